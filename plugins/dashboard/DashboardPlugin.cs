using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.Dashboard;

/// <summary>
/// EMQX 4's <c>emqx_dashboard</c>: the web console on 18083. Its own Kestrel server (HTTP and/or HTTPS) serves the
/// pages (compiled into this assembly), the dashboard's sign-in and users, and the management API (<c>/api/v4</c>) to
/// signed-in users, forwarded through <see cref="IPluginContext.CreateManagementClient"/>. Dashboard users are its own
/// (<see cref="AdminStore"/>), not the management API's application; <c>ctl admins</c> manages them through endpoints
/// this plugin adds to the management API.
/// </summary>
/// <remarks>
/// Unloading stops the server and closes its connections; nothing of the plugin stays referenced by the host, so its
/// load context is collected like any plugin's. The server is built on an empty host (no appsettings, no environment)
/// with the broker's logging.
/// </remarks>
public sealed partial class DashboardPlugin : IBrokerPlugin
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(2);

    private IPluginContext _context = null!;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private DashboardServer? _server;
    private WebApplication? _app;
    private X509Certificate2? _certificate;
    private readonly List<IPEndPoint> _held = [];

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _context = context;
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins." + context.Name);
        var options = context.BindOptions<DashboardOptions>();
        X509Certificate2? certificate = null;
        if (options.HttpsEndPoint is not null)
        {
            try
            {
                certificate = X509Certificate2.CreateFromPemFile(options.CertFile, options.KeyFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new PluginConfigurationException($"{context.OriginOf("dashboard.listener.https.certfile")}: dashboard.listener.https.certfile/keyfile: {ex.Message}");
            }
        }
        foreach (var endPoint in new[] { options.HttpEndPoint, options.HttpsEndPoint })
        {
            if (endPoint is not null && await TakenByAnotherProcessAsync(endPoint, cancellationToken).ConfigureAwait(false))
                throw new InvalidOperationException($"dashboard: {endPoint} is already in use by another program");
        }
        var admins = AdminStore.Open(context.DataDirectory, options);
        _server = new DashboardServer(context, options, admins, Assets.Load(typeof(DashboardPlugin).Assembly), _logger);
        _server.MapManagementEndpoints();

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(context.LoggerFactory);
        var bound = new List<(ListenOptions Options, string Scheme)>();
        builder.WebHost.UseKestrelCore()
            .UseSockets(o => o.CreateBoundListenSocket = BindShared)
            .UseShutdownTimeout(ShutdownTimeout)
            .ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                if (options.HttpEndPoint is { } http)
                    k.Listen(http, lo => bound.Add((lo, "http")));
                if (options.HttpsEndPoint is { } https)
                {
                    k.Listen(https, lo =>
                    {
                        lo.UseHttps(certificate!);
                        bound.Add((lo, "https"));
                    });
                }
            });
        var app = builder.Build();
        app.Run(_server.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Whatever failed, nothing of this instance may keep running (its rate limiter's timer would keep its load
            // context alive).
            await app.DisposeAsync().ConfigureAwait(false);
            _server.Dispose();
            certificate?.Dispose();
            if (ex is IOException)
                throw new InvalidOperationException($"dashboard: cannot listen on {options.Http}/{options.Https}: {ex.Message}", ex);
            throw;
        }
        _certificate = certificate;
        _app = app;
        foreach (var (listener, scheme) in bound)
        {
            _held.Add(listener.IPEndPoint!);
            Hold(listener.IPEndPoint!, +1);
            LogListening(_logger, scheme, listener.IPEndPoint!.ToString());
        }
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (_app is { } app)
        {
            await app.StopAsync(cancellationToken).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var endPoint in _held)
            Hold(endPoint, -1);
        _server?.Dispose();
        _certificate?.Dispose();
    }

    /// <summary>
    /// The listening socket, with SO_REUSEPORT: a reload starts the new instance before it stops the old one (no moment
    /// without a dashboard), so both bind the same port for that moment and the kernel deals new connections between them.
    /// </summary>
    private static Socket BindShared(EndPoint endPoint)
    {
        var ip = (IPEndPoint)endPoint;
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (ip.Address.Equals(IPAddress.IPv6Any))
            socket.DualMode = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (OperatingSystem.IsLinux())
            socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
        try
        {
            socket.Bind(ip);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    /// <summary>
    /// SO_REUSEPORT would also let a second broker of the same user share the port without a word: so before binding,
    /// a port no dashboard of this process holds (<see cref="Hold"/>) must not answer a connection.
    /// </summary>
    private static async Task<bool> TakenByAnotherProcessAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        if (endPoint.Port == 0 || (AppContext.GetData(HoldKey(endPoint)) as int? ?? 0) > 0)
            return false;
        var probe = endPoint.Address.Equals(IPAddress.Any) ? new IPEndPoint(IPAddress.Loopback, endPoint.Port)
            : endPoint.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.IPv6Loopback, endPoint.Port)
            : endPoint;
        using var socket = new Socket(probe.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await socket.ConnectAsync(probe, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// How many dashboard instances of this process listen on a port, kept process-wide (an instance's statics die with
    /// it). No lock: the plugin host starts and stops instances one at a time.
    /// </summary>
    private static void Hold(IPEndPoint endPoint, int delta) =>
        AppContext.SetData(HoldKey(endPoint), (AppContext.GetData(HoldKey(endPoint)) as int? ?? 0) + delta);

    private static string HoldKey(IPEndPoint endPoint) => "Broker.Plugins.Dashboard.Listening:" + endPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Dashboard listening on {Scheme}://{EndPoint}")]
    private static partial void LogListening(ILogger logger, string scheme, string endPoint);
}
