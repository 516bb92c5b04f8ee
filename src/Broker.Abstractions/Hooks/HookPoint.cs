namespace Broker.Abstractions.Hooks;

/// <summary>What a hook callback tells the chain: go on to the next callback, or stop here.</summary>
public enum HookResult
{
    /// <summary>Run the next callback (EMQX <c>ok</c> / <c>{ok, Acc}</c>: a new accumulator is written to the context).</summary>
    Continue = 0,
    /// <summary>Run no further callback (EMQX <c>stop</c> / <c>{stop, Acc}</c>). What stopping means is documented per hook point.</summary>
    Stop = 1,
}

/// <summary>
/// A hook callback. It reads its input from <paramref name="context"/> and, where the hook point has an
/// accumulator, writes its result back to the context's settable members.
/// </summary>
/// <remarks>
/// Callbacks run on the connection's thread: finish synchronously where you can (return a completed
/// <see cref="ValueTask{TResult}"/>), never block. A callback that throws or does not complete within
/// <c>plugins.hook_timeout</c> is logged and counted against its owner and treated as failed; for
/// <see cref="HookPoints.ClientAuthenticate"/> and <see cref="HookPoints.ClientAuthorize"/> a failure denies.
/// </remarks>
/// <typeparam name="TContext">The context type of the hook point.</typeparam>
/// <param name="context">The context of this invocation; valid only until the returned task completes.</param>
public delegate ValueTask<HookResult> HookCallback<in TContext>(TContext context) where TContext : class;

/// <summary>Untyped identity of a hook point, for listings and logs.</summary>
public abstract class HookPoint
{
    private protected HookPoint(string name, bool failureDenies)
    {
        Name = name;
        FailureDenies = failureDenies;
    }

    /// <summary>The EMQX-style name, e.g. <c>message.publish</c>.</summary>
    public string Name { get; }

    /// <summary>
    /// True for the access-control hook points: a callback that throws or times out makes the outcome "deny".
    /// </summary>
    public bool FailureDenies { get; }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>A hook point whose callbacks take a <typeparamref name="TContext"/>. Instances live in <see cref="HookPoints"/>.</summary>
/// <typeparam name="TContext">The context type.</typeparam>
public sealed class HookPoint<TContext> : HookPoint where TContext : class
{
    internal HookPoint(string name, bool failureDenies = false) : base(name, failureDenies)
    {
    }
}

/// <summary>What a callback that fails (throws, or overruns its timeout) means for the rest of the chain.</summary>
public enum HookFailureAction
{
    /// <summary>
    /// The hook point's rule: for <c>client.authenticate</c> and <c>client.authorize</c> the outcome is Deny; for every
    /// other hook point the rest of the chain is skipped.
    /// </summary>
    Default = 0,

    /// <summary>The outcome is Deny (for the access-control hook points) and the chain stops.</summary>
    Deny = 1,

    /// <summary>
    /// As if the callback had ignored the event: the next callback (for access control, the next source, then
    /// <c>allow_anonymous</c> / <c>acl_nomatch</c>) decides. For a backend an operator lets fail open
    /// (e.g. <c>on_error = ignore</c>). What the callback wrote to the context before it failed stays.
    /// </summary>
    Ignore = 2,
}

/// <summary>How one registration runs (HiveMQ's timeout and fallback per extension call).</summary>
public sealed class HookOptions
{
    /// <summary>Its place in the chain: higher runs first; see <see cref="HookPriorities"/>.</summary>
    public int Priority { get; init; } = HookPriorities.Default;

    /// <summary>
    /// How long the broker waits for the callback when it does not finish synchronously; null =
    /// <c>plugins.hook_timeout</c>. <see cref="HookContext.CancellationToken"/> fires at it.
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>What a throw or a timeout means; see <see cref="HookFailureAction"/>.</summary>
    public HookFailureAction OnFailure { get; init; }

    /// <summary>
    /// The callback may block its thread (a synchronous database driver or file access, a long lock): the broker then
    /// never calls it on a connection's I/O thread, where it would stall every connection of that thread, but on the
    /// thread pool, and waits for it as for an asynchronous callback (<see cref="Timeout"/> applies). Costs a thread
    /// hop per call: leave it false for callbacks that only compute or await asynchronous I/O. The time callbacks
    /// spend on I/O threads is shown per plugin (<c>ctl plugins list</c>, <c>/api/v4/plugins</c>). Since SDK 2.0.
    /// </summary>
    public bool Blocking { get; init; }
}

/// <summary>Registers hook callbacks. Plugins get one scoped to themselves from their plugin context.</summary>
public interface IHookRegistry
{
    /// <summary>
    /// <see cref="Register{TContext}(HookPoint{TContext}, HookCallback{TContext}, int)"/> with a timeout and failure
    /// action of its own (SDK 1.4). The broker's registries honour every option; the default implementation, for test
    /// doubles, passes only the priority on.
    /// </summary>
    /// <typeparam name="TContext">The hook point's context type.</typeparam>
    /// <param name="point">One of <see cref="HookPoints"/>.</param>
    /// <param name="callback">The callback.</param>
    /// <param name="options">Priority, timeout, failure action.</param>
    /// <returns>Disposing it removes the callback.</returns>
    IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, HookOptions options)
        where TContext : class
    {
        ArgumentNullException.ThrowIfNull(options);
        return Register(point, callback, options.Priority);
    }

    /// <summary>
    /// Adds <paramref name="callback"/> to <paramref name="point"/>'s chain. Higher <paramref name="priority"/>
    /// runs first; equal priorities run in registration order. Safe to call from any thread; the change is
    /// visible to the next invocation of the hook point.
    /// </summary>
    /// <typeparam name="TContext">The hook point's context type.</typeparam>
    /// <param name="point">One of <see cref="HookPoints"/>.</param>
    /// <param name="callback">The callback.</param>
    /// <param name="priority">Its place in the chain; see <see cref="HookPriorities"/>.</param>
    /// <returns>
    /// Disposing it removes the callback. The broker's registrations are also <see cref="IAsyncDisposable"/>:
    /// DisposeAsync completes when none of the callback's calls runs any more (SDK 2.1). The host removes every
    /// registration of a plugin that stops, and waits for its calls, before StopAsync.
    /// </returns>
    // RS0027 wants the overload with an optional parameter to have the most parameters; both have three, of other
    // types, so callers cannot confuse them, and the SDK 1.0 signature must not change.
#pragma warning disable RS0027
    IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default)
        where TContext : class;
#pragma warning restore RS0027
}
