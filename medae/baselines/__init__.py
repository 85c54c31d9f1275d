"""Classical methods that the applications compare autoencoders against."""
