"""aifactory: deploy a sovereign on-prem AI factory attached to one AWS home region."""

__version__ = "0.1.0"
