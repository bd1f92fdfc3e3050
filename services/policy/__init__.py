"""The sharing policies as the services ask them: the OPA client, the policy input (facts
only), the bundle and its revision; and as operators manage them: policy versions (checked,
signed bundles in a store, `versions.py`) and the bundle server that hands OPA the active
one. Routing decides with it; sharing checks each allowing decision against it once more
before it discloses."""
