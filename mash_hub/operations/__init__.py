"""What the people who run the hub need of it: health and readiness for a load balancer."""
