using System.Net;
using System.Net.Http.Headers;
using Broker.PluginHost;
using Broker.Core.Hosting;
using Broker.Core.AccessControl;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>Adds the management listener to Kestrel (HTTP/1.1); <paramref name="bound"/> receives it for the log line.</summary>
    public static void Listen(KestrelServerOptions kestrel, ManagementOptions options, Action<ListenOptions> bound) =>
        kestrel.Listen(options.EndPoint, lo =>
        {
            lo.Protocols = HttpProtocols.Http1;
            bound(lo);
        });

    /// <summary>
    /// Resolves the credentials (generating data/management.secret when no secret is configured) and the other
    /// applications (data/management_apps.json), says where the secret is, and maps the endpoints. Throws
    /// <see cref="IOException"/>, <see cref="UnauthorizedAccessException"/> or (for a broken applications file)
    /// <see cref="InvalidDataException"/> when a file cannot be used.
    /// </summary>
    public static ManagementCredentials Map(
        WebApplication app, BrokerCore core, PluginManager plugins, BuiltinAccessControl accessControl, ManagementOptions options, string dataDirectory, ILogger logger,
        Listeners.ListenerManager? listeners = null, Cluster.ClusterMembership? cluster = null)
    {
        var credentials = ManagementCredentials.Resolve(options, dataDirectory);
        if (credentials.SecretFile is null)
            LogConfiguredSecret(logger, credentials.ApplicationId);
        else if (credentials.Generated)
            LogGeneratedSecret(logger, credentials.SecretFile, credentials.ApplicationId);
        else
            LogSecretFile(logger, credentials.SecretFile, credentials.ApplicationId);
        credentials.Apps = ManagementApps.Open(dataDirectory);
        credentials.Clock = core.TimeProvider;
        var api = Map(app, core, credentials, plugins, accessControl, cluster);
        MapApps(api, credentials, credentials.Apps);
        if (listeners is not null)
            MapListeners(api, listeners);
        return credentials;
    }

    /// <summary>A client of the API as it listens now, with the plugins' credential (<see cref="ManagementCredentials.InternalAuthorization"/>).</summary>
    /// <exception cref="InvalidOperationException">The API is not listening yet.</exception>
    public static HttpClient CreateClient(ListenOptions listener, ManagementCredentials credentials)
    {
        if (listener.IPEndPoint is not { Port: > 0 } endPoint)
            throw new InvalidOperationException("the management API is not listening yet");
        var address = endPoint.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : endPoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback
            : endPoint.Address;
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false })
        {
            BaseAddress = new Uri($"http://{new IPEndPoint(address, endPoint.Port)}/"),
        };
        client.DefaultRequestHeaders.Authorization = AuthenticationHeaderValue.Parse(credentials.InternalAuthorization);
        return client;
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Information, Message = "Management API: application id {Id}, secret from management.default_application.secret")]
    private static partial void LogConfiguredSecret(ILogger logger, string id);

    [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "Management API: no management.default_application.secret set; generated a random secret into {Path} (mode 0600) for application id {Id}; ctl reads it from there")]
    private static partial void LogGeneratedSecret(ILogger logger, string path, string id);

    [LoggerMessage(EventId = 42, Level = LogLevel.Information, Message = "Management API: application id {Id}, secret from {Path}")]
    private static partial void LogSecretFile(ILogger logger, string path, string id);
}
