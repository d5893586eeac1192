#pragma once
#include <string>

namespace helper {
std::string word();
}
