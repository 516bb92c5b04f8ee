using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Broker.Server.Listeners;

/// <summary>
/// The part of OpenSSL 3 (libssl.so.3, libcrypto.so.3: the system's, which .NET itself uses on Linux) that the ssl
/// listeners drive directly (<see cref="TlsPipe"/>): one <c>SSL_CTX</c> per listener, one <c>SSL</c> per connection,
/// and a BIO of the broker's own whose reads and writes go to the connection's <see cref="SocketPipe"/>. Why not
/// <see cref="System.Net.Security.SslStream"/>: a full handshake cost the broker 1.6 to 2 times mosquitto's CPU through
/// Kestrel's TLS middleware (bench/README.md, "TLS handshakes driven by OpenSSL").
/// </summary>
internal static unsafe partial class OpenSsl
{
    private const string Ssl = "libssl.so.3";
    private const string Crypto = "libcrypto.so.3";

    public const int ErrorNone = 0;
    public const int ErrorWantRead = 2;
    public const int ErrorSyscall = 5;
    public const int ErrorZeroReturn = 6;

    public const int VerifyPeer = 1;
    public const int VerifyFailIfNoPeerCert = 2;

    public const int FileTypePem = 1;
    public const int Tls12Version = 0x0303;
    public const int Tls13Version = 0x0304;

    private const int CtrlMode = 33;
    private const int CtrlSetMinProtoVersion = 123;
    private const int CtrlSetMaxProtoVersion = 124;

    /// <summary>Buffers freed while a connection is idle (so an idle TLS connection holds none of OpenSSL's).</summary>
    public const long ModeReleaseBuffers = 0x10;

    public const ulong OptionCipherServerPreference = 1UL << 22;
    public const ulong OptionNoRenegotiation = 1UL << 30;

    /// <summary>A certificate of cacertfile is a trust anchor even when it is an intermediate (as .NET's CustomRootTrust).</summary>
    public const ulong VerifyFlagPartialChain = 0x80000;

    private const int BioTypeSourceSink = 0x0400;
    private const int BioFlagsRead = 0x01;
    private const int BioFlagsShouldRetry = 0x08;
    private const int BioCtrlFlush = 11;

    public static long SetMinProtoVersion(nint context, int version) => SSL_CTX_ctrl(context, CtrlSetMinProtoVersion, version, 0);

    public static long SetMaxProtoVersion(nint context, int version) => SSL_CTX_ctrl(context, CtrlSetMaxProtoVersion, version, 0);

    public static long SetMode(nint context, long mode) => SSL_CTX_ctrl(context, CtrlMode, mode, 0);

    /// <summary>Whether libssl.so.3 can be loaded (the ssl listeners need it; .NET's own TLS on Linux does too).</summary>
    public static bool IsAvailable(out string? reason)
    {
        try
        {
            _ = TLS_server_method();
            reason = null;
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            reason = ex.Message;
            return false;
        }
    }

    /// <summary>Everything on this thread's OpenSSL error queue, as one line (and the queue left empty).</summary>
    public static string TakeErrors(string fallback)
    {
        var buffer = stackalloc byte[256];
        string? text = null;
        ulong error;
        while ((error = ERR_get_error()) != 0)
        {
            ERR_error_string_n(error, buffer, 256);
            var one = Marshal.PtrToStringUTF8((nint)buffer) ?? error.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
            text = text is null ? one : text + "; " + one;
        }
        return text ?? fallback;
    }

    // --- the BIO that connects an SSL to its pipe ----------------------------------------------------------------

    /// <summary>
    /// The pipe whose SSL is being called on this thread: OpenSSL calls a BIO only from within an SSL function, on the
    /// calling thread, so the BIO needs no pointer back to its pipe (<see cref="TlsPipe"/> sets this around each call).
    /// </summary>
    [ThreadStatic]
    internal static TlsPipe? Current;

    private static nint _bioMethod;

    /// <summary>A new BIO of the broker's kind, initialised; <c>SSL_set_bio</c> takes it over.</summary>
    public static nint NewPipeBio()
    {
        var method = Volatile.Read(ref _bioMethod);
        if (method == 0)
        {
            method = BIO_meth_new(BIO_get_new_index() | BioTypeSourceSink, "broker pipe");
            if (method == 0)
                throw new InvalidOperationException("BIO_meth_new: " + TakeErrors("failed"));
            BIO_meth_set_write(method, &BioWrite);
            BIO_meth_set_read(method, &BioRead);
            BIO_meth_set_ctrl(method, &BioCtrl);
            var raced = Interlocked.CompareExchange(ref _bioMethod, method, 0);
            if (raced != 0)
            {
                BIO_meth_free(method);
                method = raced;
            }
        }
        var bio = BIO_new(method);
        if (bio == 0)
            throw new InvalidOperationException("BIO_new: " + TakeErrors("failed"));
        BIO_set_init(bio, 1);
        return bio;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int BioWrite(nint bio, byte* data, int length)
    {
        try
        {
            Current!.WriteCiphertext(new ReadOnlySpan<byte>(data, length));
            return length;
        }
        catch
        {
            return -1; // never lets an exception cross into OpenSSL
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int BioRead(nint bio, byte* data, int length)
    {
        try
        {
            BIO_clear_flags(bio, BioFlagsRead | BioFlagsShouldRetry);
            var read = Current!.ReadCiphertext(new Span<byte>(data, length));
            if (read > 0)
                return read;
            BIO_set_flags(bio, BioFlagsRead | BioFlagsShouldRetry); // nothing yet: OpenSSL reports SSL_ERROR_WANT_READ
            return -1;
        }
        catch
        {
            return -1;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static long BioCtrl(nint bio, int command, long argument, nint pointer) => command == BioCtrlFlush ? 1 : 0;

    // --- libssl ----------------------------------------------------------------------------------------------------

    [LibraryImport(Ssl)]
    public static partial nint TLS_server_method();

    [LibraryImport(Ssl)]
    public static partial nint SSL_CTX_new(nint method);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_free(nint context);

    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SSL_CTX_use_certificate_chain_file(nint context, string file);

    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SSL_CTX_use_PrivateKey_file(nint context, string file, int type);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_check_private_key(nint context);

    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int SSL_CTX_load_verify_locations(nint context, string caFile, string? caPath);

    [LibraryImport(Ssl, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint SSL_load_client_CA_file(string file);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_client_CA_list(nint context, nint names);

    [LibraryImport(Ssl)]
    public static partial void SSL_CTX_set_verify(nint context, int mode, nint callback);

    [LibraryImport(Ssl)]
    public static partial nint SSL_CTX_get0_param(nint context);

    [LibraryImport(Ssl)]
    public static partial ulong SSL_CTX_set_options(nint context, ulong options);

    [LibraryImport(Ssl)]
    public static partial int SSL_CTX_set_session_id_context(nint context, byte* id, uint length);

    [LibraryImport(Ssl)]
    private static partial long SSL_CTX_ctrl(nint context, int command, long argument, nint pointer);

    [LibraryImport(Ssl)]
    public static partial nint SSL_new(nint context);

    [LibraryImport(Ssl)]
    public static partial void SSL_free(nint ssl);

    [LibraryImport(Ssl)]
    public static partial void SSL_set_bio(nint ssl, nint readBio, nint writeBio);

    [LibraryImport(Ssl)]
    public static partial void SSL_set_accept_state(nint ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_do_handshake(nint ssl);

    [LibraryImport(Ssl)]
    public static partial int SSL_read_ex(nint ssl, byte* buffer, nuint length, out nuint read);

    [LibraryImport(Ssl)]
    public static partial int SSL_write_ex(nint ssl, byte* buffer, nuint length, out nuint written);

    [LibraryImport(Ssl)]
    public static partial int SSL_get_error(nint ssl, int result);

    [LibraryImport(Ssl)]
    public static partial int SSL_shutdown(nint ssl);

    [LibraryImport(Ssl)]
    public static partial nint SSL_get1_peer_certificate(nint ssl);

    // --- libcrypto -------------------------------------------------------------------------------------------------

    [LibraryImport(Crypto)]
    public static partial int X509_VERIFY_PARAM_set_flags(nint parameters, ulong flags);

    [LibraryImport(Crypto)]
    public static partial int i2d_X509(nint certificate, byte** output);

    [LibraryImport(Crypto)]
    public static partial void X509_free(nint certificate);

    [LibraryImport(Crypto)]
    private static partial ulong ERR_get_error();

    [LibraryImport(Crypto)]
    public static partial void ERR_clear_error();

    [LibraryImport(Crypto)]
    private static partial void ERR_error_string_n(ulong error, byte* buffer, nuint length);

    [LibraryImport(Crypto)]
    private static partial int BIO_get_new_index();

    [LibraryImport(Crypto, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint BIO_meth_new(int type, string name);

    [LibraryImport(Crypto)]
    private static partial void BIO_meth_free(nint method);

    [LibraryImport(Crypto)]
    private static partial int BIO_meth_set_write(nint method, delegate* unmanaged[Cdecl]<nint, byte*, int, int> write);

    [LibraryImport(Crypto)]
    private static partial int BIO_meth_set_read(nint method, delegate* unmanaged[Cdecl]<nint, byte*, int, int> read);

    [LibraryImport(Crypto)]
    private static partial int BIO_meth_set_ctrl(nint method, delegate* unmanaged[Cdecl]<nint, int, long, nint, long> ctrl);

    [LibraryImport(Crypto)]
    private static partial nint BIO_new(nint method);

    [LibraryImport(Crypto)]
    private static partial void BIO_set_init(nint bio, int init);

    [LibraryImport(Crypto)]
    private static partial void BIO_set_flags(nint bio, int flags);

    [LibraryImport(Crypto)]
    private static partial void BIO_clear_flags(nint bio, int flags);
}
