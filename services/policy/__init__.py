"""The sharing policies as the services ask them: the OPA client, the policy input (facts
only), the bundle and its revision. Routing decides with it; sharing checks each allowing
decision against it once more before it discloses."""
