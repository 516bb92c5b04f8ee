using System.Security.Authentication;
using static Broker.Server.Listeners.OpenSsl;

namespace Broker.Server.Listeners;

/// <summary>
/// An ssl listener's OpenSSL context (<c>SSL_CTX</c>), made once when the listener starts from the same files
/// <see cref="ListenerTls"/> loaded: the certificate chain and key, the CA that client certificates must chain to
/// (only it: the system store is not loaded), verify_peer / fail_if_no_peer_cert, tls_versions. Every connection's
/// <c>SSL</c> is made from it (<see cref="TlsPipe"/>); OpenSSL counts references, so a connection outlives a
/// context disposed by a stopping listener safely.
/// </summary>
internal sealed class TlsServerContext : IDisposable
{
    private nint _context;

    private TlsServerContext(nint context) => _context = context;

    /// <summary>Throws <see cref="IOException"/> naming the key and file, with OpenSSL's reason, when a file cannot be used.</summary>
    public static unsafe TlsServerContext Create(ListenerTls tls)
    {
        if (!IsAvailable(out var reason))
            throw new IOException($"{tls.Options.KeyPrefix}: TLS needs OpenSSL 3 (libssl.so.3): {reason}");
        ERR_clear_error();
        var context = SSL_CTX_new(TLS_server_method());
        if (context == 0)
            throw new IOException($"{tls.Options.KeyPrefix}: SSL_CTX_new: {TakeErrors("failed")}");
        try
        {
            var protocols = tls.Options.Protocols;
            SetMinProtoVersion(context, protocols.HasFlag(SslProtocols.Tls12) ? Tls12Version : Tls13Version);
            SetMaxProtoVersion(context, protocols.HasFlag(SslProtocols.Tls13) ? Tls13Version : Tls12Version);
            SetMode(context, ModeReleaseBuffers);
            SSL_CTX_set_options(context, OptionNoRenegotiation | OptionCipherServerPreference);
            // Needed for a TLS 1.2 session resumed by a client whose certificate was verified.
            var id = "broker"u8;
            fixed (byte* bytes = id)
                SSL_CTX_set_session_id_context(context, bytes, (uint)id.Length);

            if (SSL_CTX_use_certificate_chain_file(context, tls.CertificatePath) != 1
                || SSL_CTX_use_PrivateKey_file(context, tls.KeyPath, FileTypePem) != 1
                || SSL_CTX_check_private_key(context) != 1)
            {
                throw new IOException($"{tls.Options.KeyPrefix}.certfile/keyfile: OpenSSL cannot use {tls.CertificatePath} with {tls.KeyPath}: {TakeErrors("failed")}");
            }
            if (tls.Options.Verify == PeerVerification.VerifyPeer)
            {
                var ca = tls.CaPath!;
                if (SSL_CTX_load_verify_locations(context, ca, null) != 1)
                    throw new IOException($"{tls.Options.KeyPrefix}.cacertfile: OpenSSL cannot use {ca}: {TakeErrors("failed")}");
                // The CAs a client is told its certificate should come from.
                var names = SSL_load_client_CA_file(ca);
                if (names != 0)
                    SSL_CTX_set_client_CA_list(context, names);
                X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(context), VerifyFlagPartialChain);
                SSL_CTX_set_verify(context, VerifyPeer | (tls.Options.FailIfNoPeerCert ? VerifyFailIfNoPeerCert : 0), 0);
            }
            return new TlsServerContext(context);
        }
        catch
        {
            SSL_CTX_free(context);
            throw;
        }
    }

    /// <summary>A new connection's <c>SSL</c>, in the server's role.</summary>
    public nint NewSsl()
    {
        var context = Volatile.Read(ref _context);
        ObjectDisposedException.ThrowIf(context == 0, this);
        var ssl = SSL_new(context);
        if (ssl == 0)
            throw new InvalidOperationException("SSL_new: " + TakeErrors("failed"));
        SSL_set_accept_state(ssl);
        return ssl;
    }

    public void Dispose()
    {
        var context = Interlocked.Exchange(ref _context, 0);
        if (context != 0)
            SSL_CTX_free(context);
    }
}
