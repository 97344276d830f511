"""moto standing in for AWS in an offline plan: the create handlers (`backend`) and the process that runs them (`worker`)."""
