using System.Runtime.InteropServices;
using Broker.Core.Hosting;
using Broker.Core.Sys;
using Broker.Core.AccessControl;
using Broker.PluginHost;
using Broker.Configuration;
using Broker.Server.Configuration;
using Broker.Server.Listeners;
using Broker.Server.Management;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Broker.Server;

/// <summary>
/// Composition root: the core engine, built-in access control, $SYS, the MQTT listeners (<see cref="ListenerManager"/>:
/// one Kestrel server each, so each can be stopped and restarted alone), the management API on its own Kestrel
/// server, and the plugin host (plugins of data/loaded_plugins start
/// before the listener opens and stop, in reverse order, after the last client has gone). Stops cleanly on SIGTERM/SIGINT: listeners close first,
/// then every connection is sent DISCONNECT 0x8B (MQTT 5) and closed.
/// </summary>
internal static partial class BrokerHost
{
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(BrokerSettings settings)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = settings.Home });
        builder.Logging.SetMinimumLevel(settings.Log.Level).AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
            o.UseUtcTimestamp = true;
        });
        // Kestrel's own chatter (connection ids, "now listening" for HTTP) is not useful for an MQTT listener.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
        // The NATS client's connection chatter (server info on every connect); the cluster logs what operators need.
        builder.Logging.AddFilter("NATS", LogLevel.Warning);
        // A listener that cannot start is reported by the broker in one line naming the key (exit 2); the generic host
        // would add its "Hosting failed to start" with a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

        ListenOptions? management = null;
        builder.WebHost.UseKestrelCore()
            .UseShutdownTimeout(ShutdownTimeout)
            .ConfigureKestrel(k => ManagementApi.Listen(k, settings.Management, lo => management = lo));
        ManagementApi.AddServices(builder.Services);

        await using var app = builder.Build();
        var loggerFactory = app.Services.GetRequiredService<ILoggerFactory>();
        var logger = loggerFactory.CreateLogger("Broker.Server");
        // Last to go (disposed after everything below): what the sessions hold is written then.
        await using var core = new BrokerCore(settings.Core,
            (settings.Log.ThrottleWindow, settings.Log.ThrottleBurst), TimeProvider.System, loggerFactory, Path.Combine(settings.DataDirectory, "banned"));

        BuiltinAccessControl accessControl;
        try
        {
            accessControl = core.UseBuiltinAccessControl(settings.ResolveEtcPath(settings.Core.PasswordFile), settings.ResolveEtcPath(settings.Core.AclFile));
        }
        catch (Exception ex) when (ex is FileNotFoundException or AccessFileException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"broker: access control files cannot be used, not starting:\n{ex.Message}").ConfigureAwait(false);
            return 2;
        }
        if (settings.Core.AllowAnonymous)
            LogAnonymous(logger);
        foreach (var warning in settings.Warnings)
            LogConfigurationWarning(logger, warning);

        ListenerManager listeners;
        try
        {
            listeners = ListenerManager.Create(settings, core.Connections, loggerFactory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            await Console.Error.WriteLineAsync($"broker: a TLS listener's certificate files cannot be used, not starting:\n{ex.Message}").ConfigureAwait(false);
            return 2;
        }

        // The cluster exists before the management API maps its routes (/api/v5/nodes); it starts further down.
        // Always there, cluster or not: ctl cluster join may make a single node join one.
        await using var cluster = new Cluster.ClusterMembership(settings.Cluster, settings.ClusterState, settings.Core.NodeName, core.Cluster,
            loggerFactory, settings.ResolveEtcPath, settings.DataDirectory);
        core.PluginMessaging = cluster; // before the plugins start: they may listen at once

        var plugins = new PluginManager(core.Plugins, settings.Plugins, settings.PluginSearchPath, settings.DataDirectory,
            new PluginConfigurationSource(settings.EtcDirectory));
        plugins.ReadModel = new BrokerReadModel(core.Status, listeners, plugins);
        try
        {
            var credentials = ManagementApi.Map(app, core, plugins, accessControl, settings.Management, settings.DataDirectory, logger, listeners, cluster);
            plugins.ManagementClientFactory = () => ManagementApi.CreateClient(management!, credentials);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            await Console.Error.WriteLineAsync($"broker: the management API's secret or applications file cannot be used, not starting:\n{ex.Message}").ConfigureAwait(false);
            return 2;
        }

        app.Lifetime.ApplicationStopping.Register(core.BeginShutdown);

        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            LogStopping(logger, context.Signal.ToString());
            app.Lifetime.StopApplication();
        }

        // Plugins start before the listener opens, so an auth plugin in loaded_plugins decides the first CONNECT.
        await plugins.BootAsync().ConfigureAwait(false);

        // Persisted sessions come back after the plugins (their subscriptions are authorized again through them) and
        // before any listener opens (a returning client finds its session).
        if (settings.Core.PersistenceEnabled)
        {
            try
            {
                var restored = core.EnablePersistence(Persistence.RocksDbStore.Open(settings.PersistenceDirectory));
                LogPersistence(logger, settings.PersistenceDirectory, settings.Core.PersistenceSync, restored);
            }
            catch (InvalidDataException ex)
            {
                await Console.Error.WriteLineAsync(
                    $"broker: not starting: the persistence store {settings.PersistenceDirectory} cannot be read: {ex.Message}. Nothing in it was changed. " +
                    "Start a broker version that can read it, restore a backup, or move the directory away to start without the persisted sessions (persistence.dir).").ConfigureAwait(false);
                await plugins.StopAllAsync().ConfigureAwait(false);
                return 2;
            }
        }

        // Before the listeners open, so the first subscription's route is announced; NATS is reached in the background,
        // and until then (or without it) the node serves its own clients.
        cluster.Start();

        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync(
                $"broker: not starting: management.listener = {settings.Management.Bind}: cannot listen: {ListenError.Reason(ex)}").ConfigureAwait(false);
            await plugins.StopAllAsync().ConfigureAwait(false);
            return 2;
        }
        LogListener(logger, "management", management!.EndPoint.ToString() ?? "");
        try
        {
            await listeners.StartAllAsync().ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"broker: not starting: {ex.Message}").ConfigureAwait(false);
            await listeners.StopAllAsync().ConfigureAwait(false);
            await app.StopAsync().ConfigureAwait(false);
            await plugins.StopAllAsync().ConfigureAwait(false);
            return 2;
        }
        core.Start();
        LogStarted(logger, SysPublisher.Version, settings.Core.NodeName, settings.Home);

        await app.WaitForShutdownAsync().ConfigureAwait(false);
        // Listeners close first (their clients are sent DISCONNECT 0x8B), then whatever connection is left.
        await listeners.StopAllAsync().ConfigureAwait(false);
        // The other nodes are told this one leaves (its routes withdrawn at once), then its own clients are closed.
        await cluster.DisposeAsync().ConfigureAwait(false);
        await core.ShutdownAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
        // After the clients are gone (their disconnect hooks have run), in reverse start order.
        await plugins.StopAllAsync().ConfigureAwait(false);
        // Last: everything the sessions hold, written (a clean stop loses nothing).
        await core.DisposeAsync().ConfigureAwait(false);
        LogStopped(logger);
        return 0;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Broker {Version} started as {Node}, home {Home}")]
    private static partial void LogStarted(ILogger logger, string version, string node, string home);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Listener {Name} started on {EndPoint}")]
    private static partial void LogListener(ILogger logger, string name, string endPoint);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "{Signal} received: stopping")]
    private static partial void LogStopping(ILogger logger, string signal);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Broker stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "allow_anonymous is on: clients no authentication source recognises are admitted")]
    private static partial void LogAnonymous(ILogger logger);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Persistence on ({Sync}) in {Directory}: {Sessions} session(s) restored")]
    private static partial void LogPersistence(ILogger logger, string directory, string sync, int sessions);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Configuration: {Warning}")]
    private static partial void LogConfigurationWarning(ILogger logger, string warning);
}
