// Our declaration (see ../README.md): ProcessGroupGloo.hpp uses nothing from it.
#pragma once
