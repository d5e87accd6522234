"""Settings, named ladders and channels, the calendar overrides, and the wiring of it all."""
