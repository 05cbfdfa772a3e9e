"""The API that source systems and field tablets talk to (issue 14): a thin layer over the services."""
