phrases.yaml --strict
