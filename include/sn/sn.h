// Everything public in shared_nothing.
#pragma once

#include "sn/cache_line.h"
#include "sn/channel/channel.h"
#include "sn/topology/affinity.h"
