"""The Django adapter: a URLconf generated from core's route table."""
