"""Route policy, the live route table and the router service."""
