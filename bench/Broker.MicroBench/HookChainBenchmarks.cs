using BenchmarkDotNet.Attributes;
using Broker.Abstractions.Hooks;
using Broker.Core.Hooks;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.MicroBench;

/// <summary>
/// Running <c>message.publish</c> with 0 and 3 synchronous callbacks: the empty chain is the common case that must
/// cost one branch; three callbacks are a retainer, a rewrite and an observer.
/// </summary>
public class HookChainBenchmarks
{
    private HookRegistry _registry = null!;
    private MessagePublishContext _context = null!;

    [Params(0, 3)]
    public int Callbacks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _registry = new HookRegistry(TimeSpan.FromSeconds(5), TimeProvider.System, NullLogger.Instance);
        for (var i = 0; i < Callbacks; i++)
            _registry.Register(HookPoints.MessagePublish, static _ => ValueTask.FromResult(HookResult.Continue), i);
        _context = new MessagePublishContext { Message = new BrokerMessage { Topic = "a/b", Payload = new byte[64] } };
    }

    [Benchmark]
    public HookResult RunMessagePublish()
    {
        var chain = _registry.MessagePublish;
        if (chain.IsEmpty)
            return HookResult.Continue;
        var pending = chain.RunAsync(_context);
        return pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
    }
}
