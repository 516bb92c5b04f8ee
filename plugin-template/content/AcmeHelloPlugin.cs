using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Microsoft.Extensions.Logging;

namespace Acme.Hello;

/// <summary>
/// The entry class of acme_hello: the broker creates it, calls <see cref="StartAsync"/> once the plugin is loaded
/// and <see cref="StopAsync"/> before it unloads it. See plugin-template/README.md in the broker's repository for
/// the lifecycle, the hook points and the rules a plugin must follow to be unloadable.
/// </summary>
public sealed partial class AcmeHelloPlugin : IBrokerPlugin
{
    private ILogger? _logger;

    /// <inheritdoc/>
    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        // Invalid settings throw here, naming file, line and key: the plugin ends "failed" with that message (which
        // `ctl plugins load` prints) and the broker serves on.
        var options = context.BindOptions<AcmeHelloOptions>();
        _logger = context.LoggerFactory.CreateLogger(typeof(AcmeHelloPlugin).FullName!); // a string category: nothing typed by the plugin kept by the host

        // The registration belongs to the plugin's context: the host removes it when the plugin stops, so there is
        // nothing to undo in StopAsync. TopicRewrite priority: runs before anything else that looks at topics.
        var hook = new AcmeHelloPublishHook(options);
        context.Hooks.Register(HookPoints.MessagePublish, hook.OnPublishAsync, HookPriorities.TopicRewrite);

        LogStarted(_logger, context.Name, options.MatchPrefix, options.RewritePrefix);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask StopAsync(CancellationToken cancellationToken)
    {
        // Stop here whatever the plugin started itself: threads, loops, connections, timers not made through
        // IPluginContext.TimeProvider. This one has none.
        if (_logger is { } logger)
            LogStopped(logger);
        _logger = null;
        return ValueTask.CompletedTask;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Plugin} started: acting on {MatchPrefix}, rewriting to \"{RewritePrefix}\"")]
    private static partial void LogStarted(ILogger logger, string plugin, string matchPrefix, string rewritePrefix);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "acme_hello stopped")]
    private static partial void LogStopped(ILogger logger);
}
