"""The aifactory Pulumi program: the AWS side of the factory (see __main__.py and factory_stack.build)."""
