"""The signed-in home page: one section for each role the user holds."""
