using System.Net;
using System.Security.Authentication;
using Broker.Core.Configuration;
using Broker.Core.Sessions;
using Broker.Configuration;

namespace Broker.Server.Listeners;

/// <summary>
/// What every MQTT listener (<c>listener.{tcp,ssl,ws,wss}.external*</c>) is configured with. Each kind is its own
/// options class so every key carries its own [ConfKey]; the logic shared by all of them lives here.
/// </summary>
public abstract class MqttListenerOptions : IValidatableOptions
{
    /// <summary>Written in place of an address to disable a listener.</summary>
    public const string Off = "off";

    internal const string BindDoc = " listener: `port`, `ip:port` or `[ipv6]:port`, or `off` (or empty) to disable it. Port 0 picks a free port (the log says which).";
    internal const string MaxConnectionsDoc = "Most connections open at once on this listener; a connection beyond it is closed at once. Mind the process file descriptor limit (`ulimit -n`).";
    internal const string MaxConnRateDoc = "Most new connections accepted per second (a token bucket at the acceptor, burst one second's worth): connections beyond it wait in the kernel's accept queue until a token is free rather than being refused. 0 means no limit (EMQX 4 ships 1000).";
    internal const string MessagesInDoc = "Per-connection inbound PUBLISH limit as `count,period` (e.g. `100,1s`); empty for none. A client above it is slowed down: the broker stops reading its socket until the bucket refills, so nothing it sent is dropped.";
    internal const string BytesInDoc = "Per-connection inbound byte limit as `size,period` (e.g. `100KB,1s`); empty for none. Like conn_messages_in, it pauses reading rather than dropping.";

    /// <summary>The kind as in keys and identifiers: tcp, ssl, ws or wss.</summary>
    internal abstract string Kind { get; }

    /// <summary>The key prefix, e.g. <c>listener.ssl.external</c>.</summary>
    internal string KeyPrefix => "listener." + Kind + ".external";

    /// <summary>EMQX-style identifier, e.g. <c>mqtt:ssl:external</c>.</summary>
    internal string Identifier => "mqtt:" + Kind + ":external";

    /// <summary>Name in log lines, e.g. <c>ssl:external</c>.</summary>
    internal string Name => Kind + ":external";

    /// <summary>Address and port, or <see cref="Off"/>.</summary>
    public abstract string Bind { get; set; }

    /// <summary>Most connections open at once.</summary>
    public abstract int MaxConnections { get; set; }

    /// <summary>New connections per second; 0 for no limit.</summary>
    public abstract int MaxConnRate { get; set; }

    /// <summary>PUBLISH packets per period per connection, <c>count,period</c>; empty for none.</summary>
    public abstract string ConnMessagesIn { get; set; }

    /// <summary>Bytes per period per connection, <c>size,period</c>; empty for none.</summary>
    public abstract string ConnBytesIn { get; set; }

    internal bool Enabled => !IsOff(Bind);

    internal IPEndPoint EndPoint => TryParseEndPoint(Bind, out var endPoint) ? endPoint : throw new InvalidOperationException("validated at start");

    internal RateLimit? MessagesInLimit => TryParseRate(ConnMessagesIn, sizes: false, out var rate, out _) ? rate : null;

    internal RateLimit? BytesInLimit => TryParseRate(ConnBytesIn, sizes: true, out var rate, out _) ? rate : null;

    /// <inheritdoc/>
    public virtual IEnumerable<(string Key, string Error)> Validate()
    {
        if (Enabled && !TryParseEndPoint(Bind, out _))
            yield return (KeyPrefix, $"'{Bind}' is not a port, ip:port or [ipv6]:port (or off)");
        if (!TryParseRate(ConnMessagesIn, sizes: false, out _, out var problem))
            yield return (KeyPrefix + ".rate_limit.conn_messages_in", problem);
        if (!TryParseRate(ConnBytesIn, sizes: true, out _, out problem))
            yield return (KeyPrefix + ".rate_limit.conn_bytes_in", problem);
    }

    internal static bool IsOff(string value) =>
        value.Trim().Length == 0 || string.Equals(value.Trim(), Off, StringComparison.OrdinalIgnoreCase);

    internal static bool TryParseEndPoint(string value, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endPoint)
    {
        if (ushort.TryParse(value, out var port))
        {
            endPoint = new IPEndPoint(IPAddress.Any, port);
            return true;
        }
        return IPEndPoint.TryParse(value, out endPoint) && value.Contains(':', StringComparison.Ordinal);
    }

    /// <summary>Parses <c>count,period</c> (<c>100,1s</c>; with <paramref name="sizes"/> also <c>64KB,1s</c>); empty is no limit.</summary>
    internal static bool TryParseRate(string text, bool sizes, out RateLimit? rate, out string problem)
    {
        rate = null;
        problem = "";
        if (text.Trim().Length == 0)
            return true;
        var expected = sizes ? "expected `size,period` such as 100KB,1s" : "expected `count,period` such as 100,1s";
        var comma = text.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0)
        {
            problem = expected;
            return false;
        }
        var countText = text[..comma].Trim();
        long count;
        if (!long.TryParse(countText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count)
            && !(sizes && ConfValues.TryParseSize(countText, out count, out _)))
        {
            problem = expected;
            return false;
        }
        if (!ConfValues.TryParseDuration(text[(comma + 1)..].Trim(), out var period) || period <= TimeSpan.Zero || count <= 0)
        {
            problem = expected + " (both positive)";
            return false;
        }
        rate = new RateLimit(count, period);
        return true;
    }
}

/// <summary>The TLS settings shared by the MQTT/TLS and MQTT/WSS listeners (EMQX 4 <c>listener.ssl.external.*</c>).</summary>
public abstract class TlsListenerOptions : MqttListenerOptions
{
    internal const string CertFileDoc = "Server certificate chain (PEM), relative to etc/. Empty: a self-signed development certificate is generated into data/certs/ at first start and reused (a warning says so); do not use it in production.";
    internal const string KeyFileDoc = "Private key of certfile (PEM, unencrypted), relative to etc/. Empty together with certfile for the development certificate.";
    internal const string CaCertFileDoc = "CA certificates (PEM) that client certificates must chain to when verify = verify_peer; only these are trusted, not the system store.";
    internal const string VerifyDoc = "verify_none: no client certificate is asked for. verify_peer: a client certificate is asked for and, if sent, must chain to cacertfile.";
    internal const string FailIfNoPeerCertDoc = "With verify_peer: refuse the TLS handshake of a client that sends no certificate.";
    internal const string TlsVersionsDoc = "TLS versions offered, comma-separated: tlsv1.3, tlsv1.2 (older versions are not supported).";
    internal const string PeerCertAsUsernameDoc = "none, or cn: the client certificate's Common Name replaces the CONNECT username before authentication and ACLs (%u) see it.";

    /// <summary>Server certificate (PEM); empty for the generated development certificate.</summary>
    public abstract string CertFile { get; set; }

    /// <summary>Private key (PEM).</summary>
    public abstract string KeyFile { get; set; }

    /// <summary>CA bundle for client certificates (PEM).</summary>
    public abstract string CaCertFile { get; set; }

    /// <summary>Whether a client certificate is asked for.</summary>
    public abstract PeerVerification Verify { get; set; }

    /// <summary>With verify_peer, whether a client certificate is required.</summary>
    public abstract bool FailIfNoPeerCert { get; set; }

    /// <summary>Comma-separated TLS versions.</summary>
    public abstract string TlsVersions { get; set; }

    /// <summary>Where the username comes from.</summary>
    public abstract PeerCertUsername PeerCertAsUsername { get; set; }

    internal SslProtocols Protocols => TryParseVersions(TlsVersions, out var protocols) ? protocols : SslProtocols.None;

    /// <inheritdoc/>
    public override IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var error in base.Validate())
            yield return error;
        if (!TryParseVersions(TlsVersions, out _))
            yield return (KeyPrefix + ".tls_versions", $"'{TlsVersions}' is not a list of tlsv1.3 and tlsv1.2");
        if (CertFile.Trim().Length == 0 != (KeyFile.Trim().Length == 0))
            yield return (KeyPrefix + ".keyfile", "certfile and keyfile are set together (or both left empty for the development certificate)");
        if (Verify == PeerVerification.VerifyPeer && CaCertFile.Trim().Length == 0)
            yield return (KeyPrefix + ".cacertfile", "verify = verify_peer needs cacertfile: the CA client certificates must chain to");
    }

    private static bool TryParseVersions(string text, out SslProtocols protocols)
    {
        protocols = SslProtocols.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (part.ToLowerInvariant())
            {
                case "tlsv1.3":
                    protocols |= SslProtocols.Tls13;
                    break;
                case "tlsv1.2":
                    protocols |= SslProtocols.Tls12;
                    break;
                default:
                    return false;
            }
        }
        return protocols != SslProtocols.None;
    }
}

/// <summary><c>verify</c> of a TLS listener.</summary>
public enum PeerVerification
{
    /// <summary>No client certificate is asked for.</summary>
    VerifyNone,

    /// <summary>A client certificate is asked for and checked against cacertfile.</summary>
    VerifyPeer,
}

/// <summary><c>peer_cert_as_username</c> of a TLS listener.</summary>
public enum PeerCertUsername
{
    /// <summary>The CONNECT username is used.</summary>
    None,

    /// <summary>The client certificate's Common Name.</summary>
    Cn,
}

/// <summary>What the WebSocket listeners add: the HTTP path and the subprotocol policy.</summary>
internal interface IWebSocketListenerOptions
{
    string Path { get; }

    bool FailIfNoSubprotocol { get; }
}

/// <summary>The MQTT/TCP listener (<c>listener.tcp.external*</c>).</summary>
public sealed class TcpListenerOptions : MqttListenerOptions
{
    internal override string Kind => "tcp";

    /// <remarks>Default 0.0.0.0:1883.</remarks>
    [ConfKey("listener.tcp.external", "Address and port of the MQTT/TCP" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:1883";

    /// <remarks>Default 102400.</remarks>
    [ConfKey("listener.tcp.external.max_connections", MaxConnectionsDoc, Min = "1", Max = "10000000")]
    public override int MaxConnections { get; set; } = 102400;

    /// <remarks>Default 0 (no limit).</remarks>
    [ConfKey("listener.tcp.external.max_conn_rate", MaxConnRateDoc, Min = "0", Max = "1000000")]
    public override int MaxConnRate { get; set; }

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.tcp.external.rate_limit.conn_messages_in", MessagesInDoc, Example = "100,1s")]
    public override string ConnMessagesIn { get; set; } = "";

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.tcp.external.rate_limit.conn_bytes_in", BytesInDoc, Example = "100KB,1s")]
    public override string ConnBytesIn { get; set; } = "";

    /// <remarks>Default 1024.</remarks>
    [ConfKey("listener.tcp.external.backlog", "Length of the TCP accept queue.", Min = "1", Max = "65535")]
    public int Backlog { get; set; } = 1024;

    /// <remarks>Default 1.</remarks>
    [ConfKey("listener.tcp.external.io_threads", "Threads that wait for this listener's connections to send something (epoll, Linux) and then read, route and deliver it on that same thread, as mosquitto's one thread does: a message costs one thread wake-up. Connections are dealt to them in turn. Plugins' hooks run on them too, so a hook must never block (await instead). 0: .NET's socket engine and the thread pool instead (always so on systems without epoll). More threads raise the ceiling on a machine with more cores; one spends the least CPU per message at low rates.", Min = "0", Max = "256")]
    public int IoThreads { get; set; } = 1;
}

/// <summary>The MQTT/TLS listener (<c>listener.ssl.external*</c>).</summary>
public sealed class SslListenerOptions : TlsListenerOptions
{
    internal override string Kind => "ssl";

    /// <remarks>Default 0.0.0.0:8883.</remarks>
    [ConfKey("listener.ssl.external", "Address and port of the MQTT/TLS" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:8883";

    /// <remarks>Default 102400.</remarks>
    [ConfKey("listener.ssl.external.max_connections", MaxConnectionsDoc, Min = "1", Max = "10000000")]
    public override int MaxConnections { get; set; } = 102400;

    /// <remarks>Default 0 (no limit).</remarks>
    [ConfKey("listener.ssl.external.max_conn_rate", MaxConnRateDoc, Min = "0", Max = "1000000")]
    public override int MaxConnRate { get; set; }

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.ssl.external.rate_limit.conn_messages_in", MessagesInDoc, Example = "100,1s")]
    public override string ConnMessagesIn { get; set; } = "";

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.ssl.external.rate_limit.conn_bytes_in", BytesInDoc, Example = "100KB,1s")]
    public override string ConnBytesIn { get; set; } = "";

    /// <remarks>Default empty (development certificate).</remarks>
    [ConfKey("listener.ssl.external.certfile", CertFileDoc, Example = "certs/cert.pem")]
    public override string CertFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("listener.ssl.external.keyfile", KeyFileDoc, Example = "certs/key.pem")]
    public override string KeyFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("listener.ssl.external.cacertfile", CaCertFileDoc, Example = "certs/cacert.pem")]
    public override string CaCertFile { get; set; } = "";

    /// <remarks>Default verify_none.</remarks>
    [ConfKey("listener.ssl.external.verify", VerifyDoc)]
    public override PeerVerification Verify { get; set; } = PeerVerification.VerifyNone;

    /// <remarks>Default false.</remarks>
    [ConfKey("listener.ssl.external.fail_if_no_peer_cert", FailIfNoPeerCertDoc)]
    public override bool FailIfNoPeerCert { get; set; }

    /// <remarks>Default tlsv1.3,tlsv1.2.</remarks>
    [ConfKey("listener.ssl.external.tls_versions", TlsVersionsDoc)]
    public override string TlsVersions { get; set; } = "tlsv1.3,tlsv1.2";

    /// <remarks>Default none.</remarks>
    [ConfKey("listener.ssl.external.peer_cert_as_username", PeerCertAsUsernameDoc)]
    public override PeerCertUsername PeerCertAsUsername { get; set; } = PeerCertUsername.None;
}

/// <summary>The MQTT/WebSocket listener (<c>listener.ws.external*</c>).</summary>
public sealed class WsListenerOptions : MqttListenerOptions, IWebSocketListenerOptions
{
    internal const string PathDoc = "HTTP path of the WebSocket endpoint (EMQX 4: mqtt_path); other paths answer 404.";
    internal const string SubprotocolDoc = "true: refuse (HTTP 400) a WebSocket handshake that offers neither the `mqtt` nor the `mqttv3.1` subprotocol, as MQTT 5 6.0 asks clients to offer `mqtt`. false: accept it without a subprotocol.";

    internal override string Kind => "ws";

    /// <remarks>Default 0.0.0.0:8083.</remarks>
    [ConfKey("listener.ws.external", "Address and port of the MQTT/WebSocket" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:8083";

    /// <remarks>Default /mqtt.</remarks>
    [ConfKey("listener.ws.external.mqtt_path", PathDoc)]
    public string Path { get; set; } = "/mqtt";

    /// <remarks>Default true.</remarks>
    [ConfKey("listener.ws.external.fail_if_no_subprotocol", SubprotocolDoc)]
    public bool FailIfNoSubprotocol { get; set; } = true;

    /// <remarks>Default 102400.</remarks>
    [ConfKey("listener.ws.external.max_connections", MaxConnectionsDoc, Min = "1", Max = "10000000")]
    public override int MaxConnections { get; set; } = 102400;

    /// <remarks>Default 0 (no limit).</remarks>
    [ConfKey("listener.ws.external.max_conn_rate", MaxConnRateDoc, Min = "0", Max = "1000000")]
    public override int MaxConnRate { get; set; }

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.ws.external.rate_limit.conn_messages_in", MessagesInDoc, Example = "100,1s")]
    public override string ConnMessagesIn { get; set; } = "";

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.ws.external.rate_limit.conn_bytes_in", BytesInDoc, Example = "100KB,1s")]
    public override string ConnBytesIn { get; set; } = "";

    /// <inheritdoc/>
    public override IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var error in base.Validate())
            yield return error;
        if (!Path.StartsWith('/'))
            yield return ("listener.ws.external.mqtt_path", $"'{Path}' must start with /");
    }
}

/// <summary>The MQTT/WebSocket-over-TLS listener (<c>listener.wss.external*</c>): the ws keys plus the ssl keys.</summary>
public sealed class WssListenerOptions : TlsListenerOptions, IWebSocketListenerOptions
{
    internal override string Kind => "wss";

    /// <remarks>Default 0.0.0.0:8084.</remarks>
    [ConfKey("listener.wss.external", "Address and port of the MQTT/WebSocket-over-TLS" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:8084";

    /// <remarks>Default /mqtt.</remarks>
    [ConfKey("listener.wss.external.mqtt_path", WsListenerOptions.PathDoc)]
    public string Path { get; set; } = "/mqtt";

    /// <remarks>Default true.</remarks>
    [ConfKey("listener.wss.external.fail_if_no_subprotocol", WsListenerOptions.SubprotocolDoc)]
    public bool FailIfNoSubprotocol { get; set; } = true;

    /// <remarks>Default 102400.</remarks>
    [ConfKey("listener.wss.external.max_connections", MaxConnectionsDoc, Min = "1", Max = "10000000")]
    public override int MaxConnections { get; set; } = 102400;

    /// <remarks>Default 0 (no limit).</remarks>
    [ConfKey("listener.wss.external.max_conn_rate", MaxConnRateDoc, Min = "0", Max = "1000000")]
    public override int MaxConnRate { get; set; }

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.wss.external.rate_limit.conn_messages_in", MessagesInDoc, Example = "100,1s")]
    public override string ConnMessagesIn { get; set; } = "";

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("listener.wss.external.rate_limit.conn_bytes_in", BytesInDoc, Example = "100KB,1s")]
    public override string ConnBytesIn { get; set; } = "";

    /// <remarks>Default empty (development certificate).</remarks>
    [ConfKey("listener.wss.external.certfile", CertFileDoc, Example = "certs/cert.pem")]
    public override string CertFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("listener.wss.external.keyfile", KeyFileDoc, Example = "certs/key.pem")]
    public override string KeyFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("listener.wss.external.cacertfile", CaCertFileDoc, Example = "certs/cacert.pem")]
    public override string CaCertFile { get; set; } = "";

    /// <remarks>Default verify_none.</remarks>
    [ConfKey("listener.wss.external.verify", VerifyDoc)]
    public override PeerVerification Verify { get; set; } = PeerVerification.VerifyNone;

    /// <remarks>Default false.</remarks>
    [ConfKey("listener.wss.external.fail_if_no_peer_cert", FailIfNoPeerCertDoc)]
    public override bool FailIfNoPeerCert { get; set; }

    /// <remarks>Default tlsv1.3,tlsv1.2.</remarks>
    [ConfKey("listener.wss.external.tls_versions", TlsVersionsDoc)]
    public override string TlsVersions { get; set; } = "tlsv1.3,tlsv1.2";

    /// <remarks>Default none.</remarks>
    [ConfKey("listener.wss.external.peer_cert_as_username", PeerCertAsUsernameDoc)]
    public override PeerCertUsername PeerCertAsUsername { get; set; } = PeerCertUsername.None;

    /// <inheritdoc/>
    public override IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var error in base.Validate())
            yield return error;
        if (!Path.StartsWith('/'))
            yield return ("listener.wss.external.mqtt_path", $"'{Path}' must start with /");
    }
}

/// <summary>Logging (<c>log.*</c>).</summary>
public sealed class LogOptions
{
    /// <remarks>Default info.</remarks>
    [ConfKey("log.level", "Least severe log level written to the console: trace, debug, information, warning, error, critical or none.")]
    public Microsoft.Extensions.Logging.LogLevel Level { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <remarks>Default 10s.</remarks>
    [ConfKey("log.throttle_window", "Per-client and per-message log events (connects, disconnects, denied publishes and subscribes, failed logins, protocol errors) are written at most log.throttle_burst times per event in this window; the rest are counted and one line at the end of the window says how many were suppressed. `ctl trace start client <id>` or `ctl trace start topic <filter>` writes every event of that client or topic. 0 = write every event.", Unit = ConfUnit.Duration)]
    public TimeSpan ThrottleWindow { get; set; } = TimeSpan.FromSeconds(10);

    /// <remarks>Default 100.</remarks>
    [ConfKey("log.throttle_burst", "Lines per event written in each log.throttle_window before further ones are only counted.", Min = "1")]
    public int ThrottleBurst { get; set; } = 100;
}
