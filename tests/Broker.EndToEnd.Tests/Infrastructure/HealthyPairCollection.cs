namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The tests that hold a <see cref="HealthyPair"/> to a latency bound run alone, after every other test of the
/// assembly: on a 2-core machine a neighbouring test's load (a reload under connect load, a cluster of three brokers)
/// takes the CPU from the broker under test, and the pair's p99 then measures the neighbour, not the broker.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HealthyPairCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "healthy pair";
}
