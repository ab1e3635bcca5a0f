"""The Play API: a member presses Play and gets a playable, steered, signed manifest."""
