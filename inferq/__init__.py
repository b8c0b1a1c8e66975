"""inferq: asynchronous ML inference workers over Apache Kafka."""
