"""The review page (/review): admins browse and steer the dataset and see what each adapter learned."""
