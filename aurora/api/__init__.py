"""The scheduler's Thrift API, wire-compatible with Apache Aurora 0.22.

* ``aurora.thrift``: the IDL (Aurora's namespaces, type names, field ids and enum numbers).
* :mod:`aurora.api.codec`: Content-Type rules, decoding calls, encoding replies, Responses.
* :mod:`aurora.api.convert`: the domain model (:mod:`aurora.model`) to and from Thrift structs.
"""
