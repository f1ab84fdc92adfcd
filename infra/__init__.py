"""Deployment: CloudFormation resources merged into `chalice package`, and the checks of the result."""
