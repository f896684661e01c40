"""Access keys and what they may do: the keys file, keys from the environment, IAM-style action
patterns. Shared by the ``keys`` commands and the API's signature check; free of HTTP."""
