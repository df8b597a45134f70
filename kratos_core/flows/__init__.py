"""Self-service flows: the persisted state machines behind login and registration.

:mod:`.model` (the flow and its state tables), :mod:`.store` (persistence), :mod:`.engine`
(fetch, the submit pipeline and the response matrix every kind shares), :mod:`.login` and
:mod:`.registration` (the kinds), :mod:`.exchange` (one HTTP request: negotiation, cookies,
errors), :mod:`.errors` (how methods and plugins steer a flow), :mod:`.csrf` and
:mod:`.return_to` (the checks).
"""
