using System.Runtime.InteropServices;

namespace Broker.Plugins.AuthLdap;

/// <summary>
/// The few calls of OpenLDAP's libldap (Debian libldap-2.5-0) the plugin makes, through function pointers resolved
/// once from the first of its sonames found. Why not System.DirectoryServices.Protocols, which wraps the same library:
/// its LdapConnection starts, in its static constructor, a thread that loops for ever in its own code
/// (PartialResultsRetriever), and a thread running a plugin's code keeps the plugin's load context in memory: every
/// reload of the plugin would leak its assemblies and a thread (seen in a heap dump of a reloaded broker). These calls
/// start no thread and hold nothing once a session is closed.
/// </summary>
internal static unsafe class LibLdap
{
    public const int Success = 0;
    public const int SizeLimitExceeded = 0x04;
    public const int NoSuchObject = 0x20;
    public const int InvalidCredentials = 0x31;
    public const int ServerDown = -1;
    public const int ConnectError = -11;

    public const int ScopeBase = 0;
    public const int ScopeSubtree = 2;

    public const int OptReferrals = 0x0008;
    public const int OptProtocolVersion = 0x0011;
    public const int OptTimeout = 0x5002;
    public const int OptNetworkTimeout = 0x5005;
    public const int OptXTlsCaCertFile = 0x6002;
    public const int OptXTlsCertFile = 0x6004;
    public const int OptXTlsKeyFile = 0x6005;
    public const int OptXTlsRequireCert = 0x6006;
    public const int OptXTlsNewCtx = 0x600f;
    public const int OptXTlsNever = 0;
    public const int OptXTlsHard = 1;

    /// <summary>struct berval: a length and a pointer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct BerVal
    {
        public nuint Length;
        public byte* Value;
    }

    /// <summary>struct timeval.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeVal
    {
        public long Seconds;
        public long Microseconds;

        public static TimeVal From(TimeSpan span) => new() { Seconds = (long)span.TotalSeconds, Microseconds = span.Milliseconds * 1000L + span.Microseconds };
    }

    private static readonly IntPtr Library = Load();

    public static readonly delegate* unmanaged<IntPtr*, byte*, int> Initialize = (delegate* unmanaged<IntPtr*, byte*, int>)Export("ldap_initialize");
    public static readonly delegate* unmanaged<IntPtr, int, void*, int> SetOption = (delegate* unmanaged<IntPtr, int, void*, int>)Export("ldap_set_option");
    public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, int> StartTls = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, int>)Export("ldap_start_tls_s");
    public static readonly delegate* unmanaged<IntPtr, byte*, byte*, BerVal*, IntPtr, IntPtr, BerVal**, int> SaslBind =
        (delegate* unmanaged<IntPtr, byte*, byte*, BerVal*, IntPtr, IntPtr, BerVal**, int>)Export("ldap_sasl_bind_s");
    public static readonly delegate* unmanaged<IntPtr, byte*, int, byte*, byte**, int, IntPtr, IntPtr, TimeVal*, int, IntPtr*, int> SearchExt =
        (delegate* unmanaged<IntPtr, byte*, int, byte*, byte**, int, IntPtr, IntPtr, TimeVal*, int, IntPtr*, int>)Export("ldap_search_ext_s");
    public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr> FirstEntry = (delegate* unmanaged<IntPtr, IntPtr, IntPtr>)Export("ldap_first_entry");
    public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr> NextEntry = (delegate* unmanaged<IntPtr, IntPtr, IntPtr>)Export("ldap_next_entry");
    public static readonly delegate* unmanaged<IntPtr, IntPtr, byte*> GetDn = (delegate* unmanaged<IntPtr, IntPtr, byte*>)Export("ldap_get_dn");
    public static readonly delegate* unmanaged<IntPtr, IntPtr, byte*, BerVal**> GetValuesLen = (delegate* unmanaged<IntPtr, IntPtr, byte*, BerVal**>)Export("ldap_get_values_len");
    public static readonly delegate* unmanaged<BerVal**, void> ValueFreeLen = (delegate* unmanaged<BerVal**, void>)Export("ldap_value_free_len");
    public static readonly delegate* unmanaged<void*, void> MemFree = (delegate* unmanaged<void*, void>)Export("ldap_memfree");
    public static readonly delegate* unmanaged<BerVal*, void> BerBvFree = (delegate* unmanaged<BerVal*, void>)Export("ber_bvfree");
    public static readonly delegate* unmanaged<IntPtr, int> MsgFree = (delegate* unmanaged<IntPtr, int>)Export("ldap_msgfree");
    public static readonly delegate* unmanaged<IntPtr, IntPtr, IntPtr, int> UnbindExt = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, int>)Export("ldap_unbind_ext_s");
    private static readonly delegate* unmanaged<int, byte*> Err2String = (delegate* unmanaged<int, byte*>)Export("ldap_err2string");

    /// <summary>libldap's text for a result code.</summary>
    public static string Describe(int code) => Marshal.PtrToStringUTF8((IntPtr)Err2String(code)) ?? $"LDAP error {code}";

    private static IntPtr Export(string name) =>
        NativeLibrary.TryGetExport(Library, name, out var address) ? address : throw new EntryPointNotFoundException($"libldap has no {name}");

    private static IntPtr Load()
    {
        foreach (var name in new[] { "libldap.so.2", "libldap-2.6.so.0", "libldap-2.5.so.0", "libldap-2.4.so.2" })
        {
            if (NativeLibrary.TryLoad(name, out var library))
                return library;
        }
        throw new DllNotFoundException("libldap was not found (Debian: apt-get install libldap-2.5-0)");
    }
}

/// <summary>A libldap call failed: its result code and libldap's text for it.</summary>
internal sealed class LdapError(int code, string what) : Exception($"{what}: {LibLdap.Describe(code)} ({code})")
{
    public int Code { get; } = code;

    /// <summary>The server cannot be reached (or the TLS handshake failed: libldap says "connect error" for both).</summary>
    public bool Unreachable => Code is LibLdap.ServerDown or LibLdap.ConnectError;
}
