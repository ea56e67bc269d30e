/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "vtism/manager.h"

/*
 * vtismd's D-Bus face (names and record layouts: bus-api.h). Connect to the system bus
 * (DBUS_SYSTEM_BUS_ADDRESS is honoured), export the Manager object, register the manager's change
 * hook (PropertiesChanged from ManagerChange masks) and take the well-known name. Fails if another
 * vtismd owns it. Call before manager_start(), which sends READY=1.
 */
int bus_setup(Manager *m);

/*
 * The part of bus_setup() that needs no system bus: export the Manager object on bus and attach
 * bus to the manager's event loop (the D-Bus fuzz harness serves it on one end of a socket pair).
 * The caller keeps its reference to bus; bus_setup() then sets m->bus and the change hook.
 */
int bus_export(Manager *m, sd_bus *bus);

/*
 * What GetAll on the Manager interface would return, as a sealed message rewound for reading
 * (bus_snapshot_read()), built by the vtable's own getters without a caller: vtismd's metrics
 * file says exactly what the bus says. -ENOTCONN before bus_setup().
 */
int bus_properties_message(Manager *m, sd_bus_message **ret);
