using Broker.Core.Connections;
using System.Net;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Broker.Abstractions;
using Broker.Core.Hosting;
using Broker.Core.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>
/// One MQTT listener (tcp, ssl, ws or wss), started and stopped on its own (<c>ctl listeners stop|restart</c>) while
/// the others and the management API keep running. Every kind is configured and started the same way: its own
/// Kestrel server over the broker's epoll transport (<see cref="EpollTransportFactory"/>: a <see cref="SocketPipe"/>
/// per connection, read by the listener's io_threads loops). ssl runs its TLS with OpenSSL over that pipe
/// (<see cref="TlsPipe"/>); ws and wss use Kestrel's HTTP (and, for wss, TLS) middleware. Every accepted connection
/// (after TLS, after the WebSocket handshake) becomes a <see cref="ClientChannel"/> over an <see cref="IDuplexPipe"/>:
/// there is one MQTT implementation whatever the transport.
/// </summary>
/// <remarks>
/// Limits: <c>max_connections</c> closes a connection beyond it at once (a WebSocket handshake beyond it gets 503);
/// <c>max_conn_rate</c> delays accepting (<see cref="AcceptRateLimit"/>); the per-connection inbound
/// limits (<c>messages_in</c>, <c>bytes_in</c>) are the core's, per connection.
/// </remarks>
internal sealed partial class MqttListener
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    private readonly IConnectionHost _host;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly ListenerTls? _tls;
    private readonly IWebSocketListenerOptions? _webSocket;
    private readonly RateLimit? _messagesIn;
    private readonly RateLimit? _bytesIn;
    private readonly SocketPipe.Closing _tcpClosing; // shared by every tcp and ssl connection of this listener
    private readonly SocketPipe.Closing _kestrelClosing; // ws/wss: their linger is WebSocketPipe's
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConnectionBudget? _budget; // shared by every listener: the process's descriptors
    private WebApplication? _app;
    private TlsServerContext? _openSsl; // ssl, while running
    private CancellationTokenSource _stopping = new(); // ends the TLS handshakes under way when the listener stops
    private TaskCompletionSource? _drained; // while the listener stops (tcp: until its last connection has been cleaned up)
    private IPEndPoint? _bound;
    private int _connections;
    private EpollLoop[] _loops = [];
    private int _nextLoop; // which of _loops the next connection goes to
    private long _refusedMaxConnections;
    private long _closedByStop;

    public MqttListener(MqttListenerOptions options, IConnectionHost connections, ListenerTls? tls, ILoggerFactory loggerFactory, ConnectionBudget? budget = null)
    {
        _budget = budget;
        Options = options;
        _host = connections;
        _tls = tls;
        _webSocket = options as IWebSocketListenerOptions;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger("Broker.Server.Listeners");
        _messagesIn = options.MessagesInLimit;
        _bytesIn = options.BytesInLimit;
        _tcpClosing = new SocketPipe.Closing(() => _host.CloseLinger, _host.TimeProvider, TcpSocketClosed);
        _kestrelClosing = new SocketPipe.Closing(static () => TimeSpan.Zero, _host.TimeProvider, Closed: null);
    }

    public MqttListenerOptions Options { get; }

    /// <summary>EMQX-style identifier, e.g. <c>mqtt:tcp:external</c>.</summary>
    public string Identifier => Options.Identifier;

    /// <summary>EMQX's protocol column: <c>mqtt:tcp</c>, <c>mqtt:ssl</c>, <c>mqtt:ws</c>, <c>mqtt:wss</c>.</summary>
    public string Protocol => "mqtt:" + Options.Kind;

    public bool IsRunning => Volatile.Read(ref _app) is not null;

    /// <summary>ssl: TLS by OpenSSL over the socket's pipe (<see cref="TlsPipe"/>), not by Kestrel.</summary>
    private bool IsSsl => _tls is not null && _webSocket is null;

    /// <summary>
    /// tcp and ssl: a connection belongs to its channel (after the handshake) and outlives Kestrel's connection
    /// middleware, and the listener counts it until its socket is closed (<see cref="TcpSocketClosed"/>).
    /// </summary>
    private bool OwnsConnections => Options is TcpListenerOptions || IsSsl;

    /// <summary>The address it is (or was last) bound to; the configured one before the first start.</summary>
    public IPEndPoint ListenOn => _bound ?? Options.EndPoint;

    public int CurrentConnections => Volatile.Read(ref _connections);

    /// <summary>Connections closed other than by their client, by cause (EMQX's shutdown_count).</summary>
    public IReadOnlyDictionary<string, long> ShutdownCounts => new Dictionary<string, long>(StringComparer.Ordinal)
    {
        ["max_connections"] = Interlocked.Read(ref _refusedMaxConnections),
        ["listener_stopped"] = Interlocked.Read(ref _closedByStop),
    };

    /// <summary>Opens the socket; false when it is already running. Throws when the address cannot be bound.</summary>
    public async Task<bool> StartAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_app is not null)
                return false;
            // A restart of a listener configured on port 0 comes back on the port it had, so clients find it again.
            var endPoint = _bound ?? Options.EndPoint;
            // Every kind of listener: a Kestrel server over the epoll transport, its connections read by io_threads loops.
            // The certificate and key were read at start-up (ListenerTls); OpenSSL reads the same files here.
            if (IsSsl)
                _openSsl = TlsServerContext.Create(_tls!);
            _stopping = new CancellationTokenSource();
            _loops = EpollLoop.IsSupported ? EpollLoop.StartMany(Options.IoThreads, Options.Name, _logger) : [];
            var app = Build(endPoint, out var listenOptions);
            try
            {
                await app.StartAsync().ConfigureAwait(false);
            }
            catch
            {
                await app.DisposeAsync().ConfigureAwait(false);
                StopLoops();
                DisposeOpenSsl();
                throw;
            }
            _bound = (IPEndPoint)listenOptions().EndPoint;
            Volatile.Write(ref _app, app);
            LogStarted(_logger, Options.Name, _bound.ToString());
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Closes the socket, then every connection it accepted (MQTT 5 clients are sent DISCONNECT 0x8B); false when it
    /// was not running.
    /// </summary>
    public async Task<bool> StopAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            var app = _app;
            if (app is null)
                return false;
            // Kestrel unbinds first and then waits (up to ShutdownTimeout) for the ws/wss connections we close here;
            // tcp and ssl connections, which Kestrel no longer holds once started, are waited for by the listener
            // (TLS handshakes under way end now).
            var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _drained, drained);
            var stopping = app.StopAsync();
            await _stopping.CancelAsync().ConfigureAwait(false);
            if (!OwnsConnections || Volatile.Read(ref _connections) == 0)
                drained.TrySetResult();
            await CloseChannelsAsync().ConfigureAwait(false);
            try
            {
                // So that a final DISCONNECT is written before the process may exit.
                await drained.Task.WaitAsync(ShutdownTimeout, _host.TimeProvider).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Connections whose peer stopped reading: each is aborted by its own close timeout.
            }
            await stopping.ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            Volatile.Write(ref _drained, null);
            // Every connection has been closed, which ends its pending read without its loop.
            StopLoops();
            DisposeOpenSsl();
            Volatile.Write(ref _app, null);
            LogStopped(_logger, Options.Name);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    private void DisposeOpenSsl()
    {
        _openSsl?.Dispose();
        _openSsl = null;
    }

    private void StopLoops()
    {
        foreach (var loop in _loops)
            loop.Dispose();
        _loops = [];
    }

    private async Task CloseChannelsAsync() =>
        Interlocked.Add(ref _closedByStop, await _host.CloseAllAsync(Options.Name).ConfigureAwait(false));

    private WebApplication Build(IPEndPoint endPoint, out Func<ListenOptions> listenOptions)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        // The broker's logging (console format, levels) for Kestrel's own warnings too.
        builder.Services.AddSingleton(_loggerFactory);
        ListenOptions? bound = null;
        listenOptions = () => bound!;
        builder.WebHost.UseKestrelCore()
            .UseShutdownTimeout(ShutdownTimeout)
            .ConfigureKestrel(k =>
            {
                k.Limits.MaxConcurrentConnections = null;
                k.AddServerHeader = false;
                k.Listen(endPoint, lo =>
                {
                    if (_webSocket is not null)
                    {
                        if (_tls is not null)
                            lo.UseHttps(_tls.CreateHttpsOptions()); // wss
                        lo.Protocols = HttpProtocols.Http1;
                    }
                    else if (IsSsl)
                    {
                        lo.Run(OnSslConnection);
                    }
                    else
                    {
                        lo.Run(OnTcpConnection);
                    }
                    bound = lo;
                });
            });
        // Kestrel's transport is ours: the connection's reads (TLS and the WebSocket framing included) run on an
        // io_threads loop, and its writes go straight into send, with no hand-off to another thread either way
        // (bench/README.md, "TLS and WebSocket over the epoll transport"). Hooks marked blocking are moved to the
        // thread pool (HookChain); the others must not block. Kestrel accepts from one loop per endpoint, as
        // AcceptRateLimit requires.
        var rate = Options.MaxConnRate > 0 ? new AcceptRateLimit(Options.MaxConnRate, _host.TimeProvider) : null;
        builder.Services.AddSingleton<IConnectionListenerFactory>(OwnsConnections
            ? new EpollTransportFactory(Bind, NextLoop, _tcpClosing, rate, admit: Admit)
            : new EpollTransportFactory(Bind, NextLoop, _kestrelClosing, rate, admit: null));

        var app = builder.Build();
        if (_webSocket is not null)
        {
            app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.Zero }); // MQTT has its own keep-alive
            app.Run(OnHttpRequestAsync);
        }
        return app;
    }

    /// <summary>
    /// A tcp or ssl connection, on the accept loop (<see cref="EpollTransportFactory"/>): counted against max_connections
    /// and the descriptor budget, or refused (closed by the loop). Its peer is looked up only to log a refusal.
    /// </summary>
    private bool Admit(Socket socket) => TryEnter(socket, remote: null);

    /// <summary>
    /// A plain TCP connection admitted on the accept loop, on the thread pool: its channel is started and the
    /// middleware returns at once (<see cref="EpollTransportFactory"/>), so no awaiting state machine is held by every
    /// idle connection. The channel completes the pipe whatever happened, which closes the socket (after
    /// mqtt.close_linger) and reports to <see cref="TcpSocketClosed"/>.
    /// </summary>
    private Task OnTcpConnection(ConnectionContext accepted)
    {
        var connection = _host.Start(accepted.Transport, SettingsOf(accepted.RemoteEndPoint as IPEndPoint, certificate: null, WritersOf(accepted.Features)));
        // Accepted just as the listener stops, after StopAsync listed the connections: close it like the others.
        if (Volatile.Read(ref _drained) is not null)
        {
            Interlocked.Increment(ref _closedByStop);
            _ = connection.CloseAsync();
        }
        return Task.CompletedTask;
    }

    /// <summary>The loop the next connection is read by, in turn; null without loops.</summary>
    private EpollLoop? NextLoop()
    {
        var loops = _loops;
        return loops.Length == 0 ? null : loops[(uint)Interlocked.Increment(ref _nextLoop) % (uint)loops.Length];
    }

    /// <summary>The listening socket; throws naming the key and address when it cannot be bound.</summary>
    private ListeningSocket Bind(IPEndPoint endPoint)
    {
        try
        {
            return ListeningSocket.Bind(endPoint, Options.Backlog, _host.TimeProvider, _logger, Options.Name);
        }
        catch (SocketException ex)
        {
            throw CannotListen(endPoint, ex);
        }
    }

    private void TcpSocketClosed()
    {
        _budget?.Return();
        if (Interlocked.Decrement(ref _connections) == 0)
            Volatile.Read(ref _drained)?.TrySetResult();
    }

    /// <summary>
    /// An ssl connection admitted on the accept loop: its TLS handshake runs without Kestrel's middleware
    /// (<see cref="HandshakeAsync"/>), which returns at once, as for plain tcp.
    /// </summary>
    private Task OnSslConnection(ConnectionContext accepted)
    {
        _ = HandshakeAsync((SocketPipe)accepted.Transport, accepted.RemoteEndPoint as IPEndPoint, WritersOf(accepted.Features));
        return Task.CompletedTask;
    }

    /// <summary>
    /// The TLS handshake (at most <see cref="ListenerTls.HandshakeTimeout"/>, ended early by the listener stopping),
    /// then the channel over the decrypted pipe. A failed handshake is logged (throttled) with OpenSSL's reason and
    /// closes the socket, after the alert OpenSSL made for it.
    /// </summary>
    private async Task HandshakeAsync(SocketPipe socket, IPEndPoint? remote, IWriterScheduler writers)
    {
        TlsPipe? tls = null;
        string? failure;
        try
        {
            // No context: the listener is stopping.
            tls = new TlsPipe(socket, _openSsl?.NewSsl() ?? throw new ObjectDisposedException(nameof(TlsServerContext)));
            using var timeout = new CancellationTokenSource(ListenerTls.HandshakeTimeout, _host.TimeProvider);
            using var stopping = _stopping.Token.UnsafeRegister(static t => ((CancellationTokenSource)t!).Cancel(), timeout);
            failure = await tls.HandshakeAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex.Message; // whatever happened, the connection is closed, not left open
        }
        if (failure is not null)
        {
            if (_host.ShouldLog(204, nameof(LogHandshakeFailed)))
                LogHandshakeFailed(_logger, Options.Name, remote?.ToString(), failure);
            PipeReader input = tls is null ? socket.Input : tls.Input;
            PipeWriter output = tls is null ? socket : tls;
            input.Complete();
            output.Complete();
            return;
        }
        var connection = _host.Start(tls!, SettingsOf(remote, tls!.PeerCertificate(), writers));
        // Accepted just as the listener stops, after StopAsync listed the connections: close it like the others.
        if (Volatile.Read(ref _drained) is not null)
        {
            Interlocked.Increment(ref _closedByStop);
            _ = connection.CloseAsync();
        }
    }

    /// <summary>An HTTP request on a ws/wss listener: only the WebSocket upgrade on the MQTT path is served.</summary>
    private async Task OnHttpRequestAsync(HttpContext context)
    {
        var options = _webSocket!;
        if (!string.Equals(context.Request.Path.Value, options.Path, StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("MQTT over WebSocket only: send a WebSocket upgrade\n").ConfigureAwait(false);
            return;
        }
        var subProtocol = SelectSubprotocol(context.WebSockets.WebSocketRequestedProtocols);
        var remote = context.Connection.RemoteIpAddress is { } ip ? new IPEndPoint(ip, context.Connection.RemotePort) : null;
        if (subProtocol is null && options.FailIfNoSubprotocol)
        {
            LogNoSubprotocol(_logger, Options.Name, remote?.ToString(), string.Join(",", context.WebSockets.WebSocketRequestedProtocols));
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("offer the WebSocket subprotocol mqtt (or mqttv3.1)\n").ConfigureAwait(false);
            return;
        }
        if (!TryEnter(socket: null, remote))
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }
        try
        {
            var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { SubProtocol = subProtocol }).ConfigureAwait(false);
            var pipe = new WebSocketPipe(socket, _logger, remote?.ToString(), _host.CloseLinger);
            try
            {
                await RunChannelAsync(pipe, remote, context.Connection.ClientCertificate, WritersOf(context.Features)).ConfigureAwait(false);
            }
            finally
            {
                await pipe.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            Leave();
        }
    }

    /// <summary>
    /// The server selects <c>mqtt</c> [MQTT-6.0.0-4] (MQTT 5) or, for MQTT 3.1 clients, <c>mqttv3.1</c>, whichever the
    /// client offers first; null when it offers neither.
    /// </summary>
    internal static string? SelectSubprotocol(IList<string> offered)
    {
        foreach (var protocol in offered)
        {
            if (string.Equals(protocol, "mqtt", StringComparison.OrdinalIgnoreCase) || string.Equals(protocol, "mqttv3.1", StringComparison.OrdinalIgnoreCase))
                return protocol;
        }
        return null;
    }

    private bool TryEnter(Socket? socket, EndPoint? remote)
    {
        if (Interlocked.Increment(ref _connections) <= Options.MaxConnections)
        {
            if (_budget is null || _budget.TryTake())
                return true;
            Interlocked.Decrement(ref _connections);
            Interlocked.Increment(ref _refusedMaxConnections);
            if (_host.ShouldLog(211, nameof(LogNoDescriptors)))
                LogNoDescriptors(_logger, Peer(socket, remote), _budget.Max);
            return false;
        }
        Interlocked.Decrement(ref _connections);
        Interlocked.Increment(ref _refusedMaxConnections);
        if (_host.ShouldLog(200, nameof(LogTooMany)))
            LogTooMany(_logger, Peer(socket, remote), Options.KeyPrefix, Options.MaxConnections);
        return false;
    }

    private static string? Peer(Socket? socket, EndPoint? remote) => (remote ?? (socket is null ? null : SocketPipe.RemoteOf(socket)))?.ToString();

    /// <summary>A connection counted by <see cref="TryEnter"/> is gone.</summary>
    private void Leave()
    {
        _budget?.Return();
        Interlocked.Decrement(ref _connections);
    }

    /// <summary>
    /// What the core is told of an accepted connection. Running, the connection is listed by the core, where
    /// <see cref="StopAsync"/> finds it by this listener's name.
    /// </summary>
    private ConnectionSettings SettingsOf(IPEndPoint? remote, X509Certificate2? certificate, IWriterScheduler writers) => new()
    {
        Writers = writers,
        Listener = Options.Name,
        RemoteEndPoint = remote,
        UsernameFromCertificate = _tls?.Options.PeerCertAsUsername == PeerCertUsername.Cn,
        PeerCertUsername = _tls?.UsernameOf(certificate),
        PeerCertCommonName = certificate?.GetNameInfo(X509NameType.SimpleName, forIssuer: false),
        PeerCertSubject = certificate?.Subject,
        MessagesIn = _messagesIn,
        BytesIn = _bytesIn,
    };

    /// <summary>One line for operators: the key, the address and why (<c>listener.ssl.external = 0.0.0.0:8883: Address already in use</c>).</summary>
    private IOException CannotListen(IPEndPoint endPoint, Exception ex) =>
        new($"{Options.KeyPrefix} = {endPoint}: cannot listen: {ListenError.Reason(ex)}", ex);

    private Task RunChannelAsync(IDuplexPipe transport, IPEndPoint? remote, X509Certificate2? certificate, IWriterScheduler writers) =>
        _host.RunAsync(transport, SettingsOf(remote, certificate, writers));

    /// <summary>The loop that reads the connection, which its writer then runs on (<see cref="EpollTransportFactory"/>).</summary>
    private static IWriterScheduler WritersOf(IFeatureCollection features) =>
        features.Get<IWriterScheduler>() ?? throw new InvalidOperationException("a connection of the epoll transport names its writer scheduler");

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Listener {Name} started on {EndPoint}")]
    private static partial void LogStarted(ILogger logger, string name, string endPoint);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Listener {Name} stopped")]
    private static partial void LogStopped(ILogger logger, string name);

    [LoggerMessage(EventId = 211, Level = LogLevel.Warning, Message = "Connection from {Remote} refused: every listener together holds {Max} connections, what the file descriptor limit allows (ulimit -n)")]
    private static partial void LogNoDescriptors(ILogger logger, string? remote, long max);

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Connection from {Remote} refused: {Prefix}.max_connections ({Max}) reached")]
    private static partial void LogTooMany(ILogger logger, string? remote, string prefix, int max);

    [LoggerMessage(EventId = 204, Level = LogLevel.Information, Message = "TLS handshake on {Name} from {Remote} failed: {Reason}")]
    private static partial void LogHandshakeFailed(ILogger logger, string name, string? remote, string reason);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "WebSocket handshake on {Name} from {Remote} refused: no mqtt subprotocol offered (offered: '{Offered}')")]
    private static partial void LogNoSubprotocol(ILogger logger, string name, string? remote, string offered);
}
