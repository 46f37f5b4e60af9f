"""Typed data of the provider, one module per concern.

* :mod:`~runtype_provider.models.base`: the response models' base class and count type, apart so the run models
  need no response model (importing the operators defines none).
* :mod:`~runtype_provider.models.schemas`: the API's response bodies (lenient: unknown fields kept).
* :mod:`~runtype_provider.models.bodies`: request bodies, validated strictly before any request.
* :mod:`~runtype_provider.models.status`: what a run or record status string means (the one place).
* :mod:`~runtype_provider.models.runs`: the run reference, its progress and the result of a wait.
* :mod:`~runtype_provider.models.conclusion`: what a finished run means for the task (failed-records policy).
"""
