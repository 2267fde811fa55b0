"""IdentityCache: one computation per object, told apart by identity, never by equality."""

from rathaus_domain.forms.identity import IdentityCache


def test_a_value_is_computed_once_per_object_and_equal_objects_are_apart():
    calls = []
    cache: IdentityCache[int] = IdentityCache()
    first, equal = {"a": 1}, {"a": 1}

    assert cache.get(first, lambda o: calls.append(o) or 1) == 1
    assert cache.get(first, lambda o: calls.append(o) or 2) == 1
    assert cache.get(equal, lambda o: calls.append(o) or 3) == 3
    assert calls == [first, equal]
    assert cache.known(first) == (True, 1)
    assert cache.known({"a": 1}) == (False, None)


def test_a_full_cache_starts_afresh_and_a_dropped_object_is_computed_again():
    cache: IdentityCache[str] = IdentityCache(size=2)
    objects = [object() for _ in range(3)]
    for index, obj in enumerate(objects):
        cache.get(obj, lambda _o, i=index: f"v{i}")

    assert cache.known(objects[0]) == (False, None)
    assert cache.known(objects[2]) == (True, "v2")
    assert cache.get(objects[0], lambda _o: "again") == "again"
