"""A deliberately cheap password hash for the stand-in's fake users (never used by the portal)."""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 with few iterations: demo and test passwords are throwaway, sign-ins must be fast."""

    iterations = 1000
