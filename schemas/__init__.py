"""The wire contract: Open Inference Protocol bodies, Kafka headers, topics. Pure."""
