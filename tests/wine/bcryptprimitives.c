/* Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8 lacks and Rust's standard
 * library imports (ProcessPrng, its random source since Rust 1.78). Real Windows has the DLL:
 * never ship this. Built by scripts/wine-smoke with MinGW and put into the Wine prefix only. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom, advapi32 */

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n)) {
            return FALSE;
        }
        data += n;
        length -= n;
    }
    return TRUE;
}
