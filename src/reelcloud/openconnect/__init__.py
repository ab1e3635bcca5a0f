"""Open Connect appliances: the data plane that streams, reports and fills."""
