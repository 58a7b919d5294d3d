/* Debian's Wine 8 has no bcryptprimitives.dll, yet Rust's standard library imports
 * ProcessPrng from it, so every Rust .exe fails to load. This stand-in DLL gives
 * ProcessPrng by way of RtlGenRandom (exported by advapi32 as SystemFunction036).
 * Built by tests/windows/setup.sh and copied beside the test .exe files; never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
