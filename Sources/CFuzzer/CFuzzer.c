// Intentionally empty: CFuzzer only declares libFuzzer's LLVMFuzzerRunDriver (include/CFuzzer.h).
#include "CFuzzer.h"
