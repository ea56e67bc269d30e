/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "vtism/manager.h"

#define VTISM_BUS_NAME "org.vtism1"
#define VTISM_BUS_PATH "/org/vtism1"
#define VTISM_BUS_INTERFACE "org.vtism1.Manager"

/* Connect to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured), export the Manager object
 * and take the well-known name. Fails if another vtismd owns it. */
int bus_setup(Manager *m);

/* Emit PropertiesChanged for the named properties (NULL-terminated). */
void bus_emit_properties_changed(Manager *m, ...);
