"""The AWS side: the offline plan (Pulumi mocks backed by moto), the state bootstrap and post-deployment verification."""
