using Broker.Bench.Measure;
using FsCheck;
using FsCheck.Fluent;

namespace Broker.Bench.Tests.Measure;

/// <summary>The histogram against the exact answer of a sorted list (the reference model).</summary>
public sealed class LatencyHistogramTests
{
    private static long ExactPercentile(List<long> sorted, double percentile)
    {
        var rank = (long)Math.Ceiling(percentile / 100.0 * sorted.Count);
        return sorted[(int)Math.Clamp(rank, 1, sorted.Count) - 1];
    }

    [Fact]
    public void Percentile_RandomValues_AtLeastExactAndWithinOneSixtyFourth()
    {
        // Values spread over every magnitude: a random int shifted right by 0 to 30 bits.
        var value = from v in Gen.Choose(0, int.MaxValue) from shift in Gen.Choose(0, 30) select (long)v >> shift;
        var values = Gen.ListOf(value).Where(list => list.Count > 0);
        Prop.ForAll(Arb.From(values), list =>
        {
            var histogram = new LatencyHistogram();
            foreach (var value in list)
                histogram.Record(value);
            var sorted = list.OrderBy(v => v).ToList();
            foreach (var percentile in new[] { 0.1, 50, 90, 99, 99.9, 100 })
            {
                var exact = ExactPercentile(sorted, percentile);
                var reported = histogram.Percentile(percentile);
                Assert.InRange(reported, exact, exact + (exact / 64));
            }
            Assert.Equal(sorted[^1], histogram.Max);
            Assert.Equal(list.Count, histogram.Count);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void IndexOf_EveryValue_FallsInsideItsBucket()
    {
        Prop.ForAll(Arb.From(Gen.Choose(0, int.MaxValue).Select(v => (long)v * (v % 7 + 1))), value =>
        {
            var index = LatencyHistogram.IndexOf(value);
            Assert.True(value <= LatencyHistogram.UpperEdge(index), $"{value} above bucket {index}");
            Assert.True(index == 0 || LatencyHistogram.UpperEdge(index - 1) < value, $"{value} below bucket {index}");
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Percentile_BelowOneHundredTwentyEightMicroseconds_Exact()
    {
        var histogram = new LatencyHistogram();
        for (var i = 1; i <= 100; i++)
            histogram.Record(i);
        Assert.Equal(50, histogram.Percentile(50));
        Assert.Equal(99, histogram.Percentile(99));
        Assert.Equal(100, histogram.Percentile(100));
        Assert.Equal(50.5, histogram.Mean);
    }

    [Fact]
    public void Add_TwoHistograms_SameAsRecordingEverythingInOne()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var all = new LatencyHistogram();
        for (var i = 0; i < 1000; i++)
        {
            (i % 2 == 0 ? a : b).Record(i * 37);
            all.Record(i * 37);
        }
        a.Add(b);
        Assert.Equal(all.Count, a.Count);
        Assert.Equal(all.Max, a.Max);
        Assert.Equal(all.Percentile(99), a.Percentile(99));
    }

    [Fact]
    public void Percentile_Empty_Zero() => Assert.Equal(0, new LatencyHistogram().Percentile(99));
}
