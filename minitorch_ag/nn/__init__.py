"""Neural-network building blocks: functional operations (``minitorch_ag.nn.functional``) and
Knet-style callable layers holding ``Param``s."""
