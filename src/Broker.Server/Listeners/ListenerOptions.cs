using Broker.Core.Connections;
using System.Net;
using System.Security.Authentication;
using Broker.Core.Configuration;
using Broker.Core.Sessions;
using Broker.Configuration;

namespace Broker.Server.Listeners;

/// <summary>
/// What every MQTT listener (<c>listener.{tcp,ssl,ws,wss}.&lt;name&gt;*</c>) is configured with: one entry of
/// <see cref="ListenersOptions"/>, its keys relative to <c>listener.&lt;kind&gt;.&lt;name&gt;</c> (the empty key is the
/// address itself). Each kind is its own class for its own keys and defaults; what they share lives here.
/// </summary>
internal abstract class MqttListenerOptions : IValidatableOptions
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

    /// <summary>The listener's name in its keys (<c>external</c>, <c>internal</c>...), set by <see cref="ListenersOptions.Named"/>.</summary>
    internal string ListenerName { get; set; } = ListenersOptions.DefaultName;

    /// <summary>The key prefix, e.g. <c>listener.ssl.external</c>.</summary>
    internal string KeyPrefix => $"listener.{Kind}.{ListenerName}";

    /// <summary>EMQX-style identifier, e.g. <c>mqtt:ssl:external</c>.</summary>
    internal string Identifier => $"mqtt:{Kind}:{ListenerName}";

    /// <summary>Name in log lines, e.g. <c>ssl:external</c>.</summary>
    internal string Name => $"{Kind}:{ListenerName}";

    /// <summary>Address and port, or <see cref="Off"/> (the entry's own value: <c>listener.tcp.external = ...</c>).</summary>
    public abstract string Bind { get; set; }

    /// <remarks>Default 102400.</remarks>
    [ConfKey("max_connections", MaxConnectionsDoc, Min = "1", Max = "10000000")]
    public int MaxConnections { get; set; } = 102400;

    /// <remarks>Default 0 (no limit).</remarks>
    [ConfKey("max_conn_rate", MaxConnRateDoc, Min = "0", Max = "1000000")]
    public int MaxConnRate { get; set; }

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("rate_limit.conn_messages_in", MessagesInDoc, Example = "100,1s")]
    public string ConnMessagesIn { get; set; } = "";

    /// <remarks>Default empty (no limit).</remarks>
    [ConfKey("rate_limit.conn_bytes_in", BytesInDoc, Example = "100KB,1s")]
    public string ConnBytesIn { get; set; } = "";

    /// <remarks>Default 1024.</remarks>
    [ConfKey("backlog", "Length of the TCP accept queue.", Min = "1", Max = "65535")]
    public int Backlog { get; set; } = 1024;

    /// <remarks>Default 1.</remarks>
    [ConfKey("io_threads", "Threads that wait for this listener's connections to send something (epoll, Linux) and then read it (after TLS and the WebSocket framing, on ssl, ws and wss listeners: the TLS handshake too), route it on that same thread, and write to them, as mosquitto's one thread does: a message costs one thread wake-up. Connections are dealt to them in turn; a delivery to a connection of another thread is posted to it. Plugins' hooks run on them too, so a hook must never block (await instead, or register it as blocking: HookOptions.Blocking). 0: .NET's socket engine and the thread pool instead (always so on systems without epoll). More threads raise the ceiling on a machine with more cores; one spends the least CPU per message at low rates.", Min = "0", Max = "256")]
    public int IoThreads { get; set; } = 1;

    internal bool Enabled => !IsOff(Bind);

    internal IPEndPoint EndPoint => TryParseEndPoint(Bind, out var endPoint) ? endPoint : throw new InvalidOperationException("validated at start");

    internal RateLimit? MessagesInLimit => TryParseRate(ConnMessagesIn, sizes: false, out var rate, out _) ? rate : null;

    internal RateLimit? BytesInLimit => TryParseRate(ConnBytesIn, sizes: true, out var rate, out _) ? rate : null;

    /// <inheritdoc/>
    public virtual IEnumerable<(string Key, string Error)> Validate()
    {
        if (Enabled && !TryParseEndPoint(Bind, out _))
            yield return ("", $"'{Bind}' is not a port, ip:port or [ipv6]:port (or off)");
        if (!TryParseRate(ConnMessagesIn, sizes: false, out _, out var problem))
            yield return ("rate_limit.conn_messages_in", problem);
        if (!TryParseRate(ConnBytesIn, sizes: true, out _, out problem))
            yield return ("rate_limit.conn_bytes_in", problem);
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

/// <summary>The TLS settings shared by the MQTT/TLS and MQTT/WSS listeners (EMQX 4 <c>listener.ssl.&lt;name&gt;.*</c>).</summary>
internal abstract class TlsListenerOptions : MqttListenerOptions
{
    internal const string CertFileDoc = "Server certificate chain (PEM), relative to etc/. Empty: a self-signed development certificate is generated into data/certs/ at first start and reused (a warning says so); do not use it in production.";
    internal const string KeyFileDoc = "Private key of certfile (PEM, unencrypted), relative to etc/. Empty together with certfile for the development certificate.";
    internal const string CaCertFileDoc = "CA certificates (PEM) that client certificates must chain to when verify = verify_peer; only these are trusted, not the system store.";
    internal const string VerifyDoc = "verify_none: no client certificate is asked for. verify_peer: a client certificate is asked for and, if sent, must chain to cacertfile.";
    internal const string FailIfNoPeerCertDoc = "With verify_peer: refuse the TLS handshake of a client that sends no certificate.";
    internal const string TlsVersionsDoc = "TLS versions offered, comma-separated: tlsv1.3, tlsv1.2 (older versions are not supported).";
    internal const string PeerCertAsUsernameDoc = "none, or cn: the client certificate's Common Name replaces the CONNECT username before authentication and ACLs (%u) see it.";

    /// <remarks>Default empty (development certificate).</remarks>
    [ConfKey("certfile", CertFileDoc, Example = "certs/cert.pem")]
    public string CertFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("keyfile", KeyFileDoc, Example = "certs/key.pem")]
    public string KeyFile { get; set; } = "";

    /// <remarks>Default empty.</remarks>
    [ConfKey("cacertfile", CaCertFileDoc, Example = "certs/cacert.pem")]
    public string CaCertFile { get; set; } = "";

    /// <remarks>Default verify_none.</remarks>
    [ConfKey("verify", VerifyDoc)]
    public PeerVerification Verify { get; set; } = PeerVerification.VerifyNone;

    /// <remarks>Default false.</remarks>
    [ConfKey("fail_if_no_peer_cert", FailIfNoPeerCertDoc)]
    public bool FailIfNoPeerCert { get; set; }

    /// <remarks>Default tlsv1.3,tlsv1.2.</remarks>
    [ConfKey("tls_versions", TlsVersionsDoc)]
    public string TlsVersions { get; set; } = "tlsv1.3,tlsv1.2";

    /// <remarks>Default none.</remarks>
    [ConfKey("peer_cert_as_username", PeerCertAsUsernameDoc)]
    public PeerCertUsername PeerCertAsUsername { get; set; } = PeerCertUsername.None;

    internal SslProtocols Protocols => TryParseVersions(TlsVersions, out var protocols) ? protocols : SslProtocols.None;

    /// <inheritdoc/>
    public override IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var error in base.Validate())
            yield return error;
        if (!TryParseVersions(TlsVersions, out _))
            yield return ("tls_versions", $"'{TlsVersions}' is not a list of tlsv1.3 and tlsv1.2");
        if (CertFile.Trim().Length == 0 != (KeyFile.Trim().Length == 0))
            yield return ("keyfile", "certfile and keyfile are set together (or both left empty for the development certificate)");
        if (Verify == PeerVerification.VerifyPeer && CaCertFile.Trim().Length == 0)
            yield return ("cacertfile", "verify = verify_peer needs cacertfile: the CA client certificates must chain to");
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
internal enum PeerVerification
{
    /// <summary>No client certificate is asked for.</summary>
    VerifyNone,

    /// <summary>A client certificate is asked for and checked against cacertfile.</summary>
    VerifyPeer,
}

/// <summary><c>peer_cert_as_username</c> of a TLS listener.</summary>
internal enum PeerCertUsername
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

/// <summary>An MQTT/TCP listener (<c>listener.tcp.&lt;name&gt;*</c>).</summary>
internal sealed class TcpListenerOptions : MqttListenerOptions
{
    internal override string Kind => "tcp";

    /// <remarks>Default 0.0.0.0:1883.</remarks>
    [ConfKey("", "Address and port of the MQTT/TCP" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:1883";
}

/// <summary>An MQTT/TLS listener (<c>listener.ssl.&lt;name&gt;*</c>).</summary>
internal sealed class SslListenerOptions : TlsListenerOptions
{
    internal override string Kind => "ssl";

    /// <remarks>Default 0.0.0.0:8883.</remarks>
    [ConfKey("", "Address and port of the MQTT/TLS" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:8883";
}

/// <summary>An MQTT/WebSocket listener (<c>listener.ws.&lt;name&gt;*</c>).</summary>
internal sealed class WsListenerOptions : MqttListenerOptions, IWebSocketListenerOptions
{
    internal const string PathDoc = "HTTP path of the WebSocket endpoint (EMQX 4: mqtt_path); other paths answer 404.";
    internal const string SubprotocolDoc = "true: refuse (HTTP 400) a WebSocket handshake that offers neither the `mqtt` nor the `mqttv3.1` subprotocol, as MQTT 5 6.0 asks clients to offer `mqtt`. false: accept it without a subprotocol.";

    internal override string Kind => "ws";

    /// <remarks>Default 0.0.0.0:8083.</remarks>
    [ConfKey("", "Address and port of the MQTT/WebSocket" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:8083";

    /// <remarks>Default /mqtt.</remarks>
    [ConfKey("mqtt_path", PathDoc)]
    public string Path { get; set; } = "/mqtt";

    /// <remarks>Default true.</remarks>
    [ConfKey("fail_if_no_subprotocol", SubprotocolDoc)]
    public bool FailIfNoSubprotocol { get; set; } = true;

    /// <inheritdoc/>
    public override IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var error in base.Validate())
            yield return error;
        if (!Path.StartsWith('/'))
            yield return ("mqtt_path", $"'{Path}' must start with /");
    }
}

/// <summary>An MQTT/WebSocket-over-TLS listener (<c>listener.wss.&lt;name&gt;*</c>): the ws keys plus the ssl keys.</summary>
internal sealed class WssListenerOptions : TlsListenerOptions, IWebSocketListenerOptions
{
    internal override string Kind => "wss";

    /// <remarks>Default 0.0.0.0:8084.</remarks>
    [ConfKey("", "Address and port of the MQTT/WebSocket-over-TLS" + BindDoc)]
    public override string Bind { get; set; } = "0.0.0.0:8084";

    /// <remarks>Default /mqtt.</remarks>
    [ConfKey("mqtt_path", WsListenerOptions.PathDoc)]
    public string Path { get; set; } = "/mqtt";

    /// <remarks>Default true.</remarks>
    [ConfKey("fail_if_no_subprotocol", WsListenerOptions.SubprotocolDoc)]
    public bool FailIfNoSubprotocol { get; set; } = true;

    /// <inheritdoc/>
    public override IEnumerable<(string Key, string Error)> Validate()
    {
        foreach (var error in base.Validate())
            yield return error;
        if (!Path.StartsWith('/'))
            yield return ("mqtt_path", $"'{Path}' must start with /");
    }
}

/// <summary>
/// Every MQTT listener, by kind and name: EMQX 4's <c>listener.tcp.external</c> and any more an operator names
/// (<c>listener.tcp.internal = 127.0.0.1:11883</c>, <c>listener.tcp.internal.max_connections = 1000</c>), each with the
/// keys of its kind. Each kind starts with one listener named <c>external</c>; set it to <c>off</c> to drop it.
/// </summary>
internal sealed class ListenersOptions
{
    internal const string DefaultName = "external";

    /// <remarks>Default 0: a tenth of the descriptor limit, at least 128 (<see cref="ConnectionBudget"/>).</remarks>
    [ConfKey("listener.fd_reserve", "File descriptors kept free of connections, for files, plugins, backends and the runtime: all listeners together accept at most the process's descriptor limit (`ulimit -n`, raised to its hard limit at start), minus what is open at start, minus this; a connection beyond it is closed at once. A process out of descriptors cannot even start a thread and ends, dropping every client, so keep it well above what your plugins and log files open. 0 = a tenth of the limit, at least 128.", Min = "0", Max = "1000000")]
    public int FdReserve { get; set; }

    /// <remarks>Default: external on 0.0.0.0:1883.</remarks>
    [ConfMap("listener.tcp", "MQTT/TCP listeners." + "\n  More listeners of this kind: the same keys under another name (letters, digits, _), e.g. `listener.tcp.internal = 127.0.0.1:11883`\n  and `listener.tcp.internal.max_connections = 1000`; each is started, limited, listed (`ctl listeners`) and stopped on its own.")]
    public Dictionary<string, TcpListenerOptions> Tcp { get; set; } = new() { [DefaultName] = new() };

    /// <remarks>Default: external on 0.0.0.0:8883.</remarks>
    [ConfMap("listener.ssl", "MQTT/TLS listeners; more under other names as for listener.tcp.")]
    public Dictionary<string, SslListenerOptions> Ssl { get; set; } = new() { [DefaultName] = new() };

    /// <remarks>Default: external on 0.0.0.0:8083.</remarks>
    [ConfMap("listener.ws", "MQTT/WebSocket listeners; more under other names as for listener.tcp.")]
    public Dictionary<string, WsListenerOptions> Ws { get; set; } = new() { [DefaultName] = new() };

    /// <remarks>Default: external on 0.0.0.0:8084.</remarks>
    [ConfMap("listener.wss", "MQTT/WebSocket-over-TLS listeners; more under other names as for listener.tcp.")]
    public Dictionary<string, WssListenerOptions> Wss { get; set; } = new() { [DefaultName] = new() };

    /// <summary>Every listener, enabled or not, in start order (tcp, ssl, ws, wss; each kind's in the order configured), its name set.</summary>
    internal IReadOnlyList<MqttListenerOptions> Named()
    {
        var all = new List<MqttListenerOptions>();
        foreach (var kind in new System.Collections.IDictionary[] { Tcp, Ssl, Ws, Wss })
        {
            foreach (System.Collections.DictionaryEntry entry in kind)
            {
                var options = (MqttListenerOptions)entry.Value!;
                options.ListenerName = (string)entry.Key;
                all.Add(options);
            }
        }
        return all;
    }
}

/// <summary>Logging (<c>log.*</c>).</summary>
internal sealed class LogOptions
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
