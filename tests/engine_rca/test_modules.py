from engine.rca.modules import (is_project_module, level_of, module_from_component, module_from_path,
                                package_of, subsystem_of, subsystem_of_service)


def test_module_from_site_packages_and_devstack_paths():
    assert module_from_path("/usr/lib/python2.7/site-packages/nova/compute/manager.py") == "nova.compute.manager"
    assert module_from_path("/opt/stack/nova/nova/compute/manager.py") == "nova.compute.manager"
    assert module_from_path("/usr/lib/python3/dist-packages/neutron/agent/l3/router_info.pyc") == \
        "neutron.agent.l3.router_info"
    assert module_from_path("/src/cinder/cinder/volume/__init__.py") == "cinder.volume"


def test_library_code_is_not_a_candidate():
    assert module_from_path("/usr/lib/python2.7/site-packages/oslo_messaging/rpc/server.py") is None
    assert module_from_path("/usr/lib64/python2.7/threading.py") is None
    assert module_from_path(None) is None


def test_component_and_levels():
    mod = module_from_component("/nova/compute/manager.py")
    assert mod == "nova.compute.manager"
    assert package_of(mod) == "nova.compute" and subsystem_of(mod) == "nova"
    assert [level_of(mod, lvl) for lvl in ("subsystem", "package", "module")] == \
        ["nova", "nova.compute", "nova.compute.manager"]
    assert module_from_component("") is None


def test_services_and_project_loggers():
    assert subsystem_of_service("neutron-openvswitch-agent") == "neutron"
    assert subsystem_of_service("rabbitmq") is None
    assert is_project_module("cinder.volume.manager")
    assert not is_project_module("oslo_messaging.rpc.server")
