"""Small value objects and calendar helpers shared by the pure cores."""
