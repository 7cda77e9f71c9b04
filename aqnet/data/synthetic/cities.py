"""Real cities for the benchmark's population and emissions: name, latitude, longitude (degrees), population.

Populations are urban-agglomeration sizes of the mid-2010s in millions, rounded (orders of magnitude from the
national censuses and the UN World Urbanization Prospects 2018); coordinates are the city centres. They are facts
of geography, not an emission inventory: emissions scale with them through per-capita rates (``emissions``).
Included on purpose: the polluted basins (Sichuan/Chongqing, the Fenwei plain around Xi'an, the Shanxi valleys)
and high cities (Lanzhou, Xining, Kunming, Guiyang, Lhasa, Ulaanbaatar, Kathmandu), so that a basin floor can trap
pollution and a plateau city can be dirty. ``INDUSTRIAL`` marks the heavy-industry and coal bases that host the
point sources (steel, coal power, coking).
"""

from __future__ import annotations

from typing import NamedTuple


class City(NamedTuple):
    name: str
    lat: float  # degrees_north
    lon: float  # degrees_east
    population_millions: float


CITIES: tuple[City, ...] = (
    # North China Plain and its rim
    City("Beijing", 39.90, 116.40, 21.5),
    City("Tianjin", 39.13, 117.20, 13.0),
    City("Shijiazhuang", 38.04, 114.51, 4.5),
    City("Tangshan", 39.63, 118.18, 3.5),
    City("Baoding", 38.87, 115.46, 2.8),
    City("Handan", 36.61, 114.49, 2.5),
    City("Xingtai", 37.07, 114.50, 1.5),
    City("Cangzhou", 38.30, 116.84, 1.3),
    City("Jinan", 36.67, 117.00, 4.5),
    City("Zibo", 36.81, 118.05, 2.6),
    City("Qingdao", 36.07, 120.38, 5.5),
    City("Weifang", 36.71, 119.16, 2.5),
    City("Linyi", 35.10, 118.36, 2.5),
    City("Zhengzhou", 34.75, 113.63, 6.0),
    City("Luoyang", 34.62, 112.45, 2.0),
    City("Xinxiang", 35.30, 113.93, 1.2),
    City("Anyang", 36.10, 114.39, 1.2),
    City("Xuzhou", 34.26, 117.18, 3.0),
    # Shanxi valleys, Inner Mongolia, Loess Plateau (coal and heavy industry, 800-1500 m)
    City("Taiyuan", 37.87, 112.55, 4.0),
    City("Datong", 40.08, 113.30, 1.8),
    City("Linfen", 36.09, 111.52, 1.0),
    City("Yuncheng", 35.03, 111.00, 0.8),
    City("Changzhi", 36.20, 113.12, 1.0),
    City("Hohhot", 40.84, 111.75, 2.2),
    City("Baotou", 40.66, 109.84, 2.2),
    City("Ordos", 39.61, 109.78, 0.8),
    City("Yulin", 38.29, 109.73, 0.8),
    City("Yinchuan", 38.49, 106.23, 1.5),
    # Fenwei plain (Guanzhong basin)
    City("Xi'an", 34.34, 108.94, 8.0),
    City("Xianyang", 34.33, 108.71, 1.5),
    City("Weinan", 34.50, 109.51, 1.0),
    City("Baoji", 34.36, 107.24, 1.2),
    # The north-east
    City("Shenyang", 41.80, 123.43, 6.5),
    City("Dalian", 38.91, 121.61, 4.0),
    City("Anshan", 41.11, 122.99, 1.6),
    City("Changchun", 43.82, 125.32, 4.3),
    City("Jilin", 43.84, 126.55, 1.8),
    City("Harbin", 45.80, 126.53, 5.5),
    City("Daqing", 46.59, 125.10, 1.5),
    # Yangtze River Delta and the middle Yangtze
    City("Shanghai", 31.23, 121.47, 24.0),
    City("Nanjing", 32.06, 118.80, 7.0),
    City("Suzhou", 31.30, 120.59, 5.5),
    City("Wuxi", 31.49, 120.31, 3.5),
    City("Changzhou", 31.81, 119.97, 2.5),
    City("Hangzhou", 30.27, 120.16, 7.5),
    City("Ningbo", 29.87, 121.54, 4.0),
    City("Hefei", 31.82, 117.23, 4.5),
    City("Wuhan", 30.59, 114.31, 9.0),
    City("Changsha", 28.23, 112.94, 4.5),
    City("Nanchang", 28.68, 115.86, 3.0),
    # Sichuan basin and the south-west (basins and plateaus)
    City("Chengdu", 30.57, 104.07, 10.0),
    City("Chongqing", 29.56, 106.55, 12.0),
    City("Zigong", 29.35, 104.78, 1.2),
    City("Mianyang", 31.47, 104.68, 1.5),
    City("Nanchong", 30.84, 106.11, 1.5),
    City("Yibin", 28.77, 104.63, 1.0),
    City("Guiyang", 26.65, 106.63, 3.5),
    City("Kunming", 25.04, 102.71, 5.0),
    City("Lhasa", 29.65, 91.11, 0.6),
    # North-west
    City("Lanzhou", 36.06, 103.83, 3.0),
    City("Xining", 36.62, 101.78, 1.5),
    City("Urumqi", 43.83, 87.62, 3.0),
    City("Kashgar", 39.47, 75.99, 0.7),
    # South and the Pearl River Delta
    City("Guangzhou", 23.13, 113.26, 13.0),
    City("Shenzhen", 22.54, 114.06, 12.0),
    City("Dongguan", 23.02, 113.75, 7.5),
    City("Foshan", 23.02, 113.12, 7.0),
    City("Hong Kong", 22.32, 114.17, 7.3),
    City("Fuzhou", 26.07, 119.30, 4.0),
    City("Xiamen", 24.48, 118.09, 3.5),
    City("Nanning", 22.82, 108.37, 3.5),
    City("Haikou", 20.04, 110.34, 1.6),
    # Neighbours inside the default box
    City("Seoul", 37.57, 126.98, 10.0),
    City("Pyongyang", 39.04, 125.76, 3.0),
    City("Ulaanbaatar", 47.89, 106.91, 1.4),
    City("Hanoi", 21.03, 105.85, 7.5),
    City("Delhi", 28.61, 77.21, 26.0),
    City("Lahore", 31.55, 74.34, 11.0),
    City("Kathmandu", 27.72, 85.32, 1.3),
    City("Dhaka", 23.81, 90.41, 19.0),
    City("Kolkata", 22.57, 88.36, 14.5),
)

INDUSTRIAL: frozenset[str] = frozenset(
    {
        "Tangshan", "Handan", "Shijiazhuang", "Xingtai", "Tianjin", "Zibo", "Taiyuan", "Datong", "Linfen",
        "Changzhi", "Baotou", "Ordos", "Yulin", "Yinchuan", "Wuhan", "Anshan", "Shenyang", "Chongqing", "Zigong",
        "Lanzhou", "Urumqi", "Xuzhou", "Anyang", "Baoji", "Weinan", "Daqing", "Jilin", "Guiyang", "Luoyang",
    }
)  # fmt: skip
