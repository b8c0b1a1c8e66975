"""Model repository, batching, the worker service, pools and scaling."""
